/* Readers' conveniences on every page. Adds "Thesis (PDF)" to the download menu in each page's header (sphinx-book-theme), next to the page's
 * own notebook/source. The PDF is <html root>/thesis.pdf, copied there by `make pdf`; the link is relative
 * to the page (Sphinx's data-content_root), so it works from file:// as well as from a server. */
(function () {
  "use strict";
  // pydata-sphinx-theme reads the colour mode from localStorage or the theme option default_mode, which
  // Jupyter Book leaves empty: on a reader's first visit it logs "Got invalid theme mode: ." as a console
  // error before falling back to "auto". Set that fallback first (this runs before the theme's deferred script).
  var html = document.documentElement;
  if (!html.dataset.mode) html.dataset.mode = "auto";
  function add() {
    var menu = document.querySelector(".dropdown-download-buttons ul.dropdown-menu");
    if (!menu || menu.querySelector(".download-thesis-pdf")) return;
    var root = document.documentElement.getAttribute("data-content_root") || "";
    var li = document.createElement("li");
    var a = document.createElement("a");
    a.href = root + "thesis.pdf";
    a.className = "btn btn-sm dropdown-item download-thesis-pdf";
    a.title = "Download the whole thesis as a PDF";
    a.setAttribute("download", "");
    a.innerHTML = '<span class="btn__icon-container"><i class="fas fa-book"></i></span>' +
                  '<span class="btn__text-container">thesis.pdf</span>';
    li.appendChild(a);
    menu.appendChild(li);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", add); else add();
})();
