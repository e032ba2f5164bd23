/* The live latent-space explorer of the HTML book (no kernel, no network, works from file://).
 *
 * thesis_code/export.py writes a trained MLP decoder's weights (base64 float32) into the page; this file
 * runs its forward pass z -> E[x|z] in plain JavaScript and draws three views: sliders for z with the
 * decoded image, the manifold grid of the 2-D latent space with the current z marked (click to move
 * there), and the interpolation between the posterior means of two test digits.
 * The forward pass is checked against PyTorch by tests/test_browser.py (in node and in Chromium).
 */
(function (root) {
  "use strict";

  function bytesFromBase64(text) {
    if (typeof atob === "function") {
      var s = atob(text), out = new Uint8Array(s.length);
      for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
      return out;
    }
    return new Uint8Array(Buffer.from(text, "base64"));   // node (tests)
  }
  function float32FromBase64(text) {
    var bytes = bytesFromBase64(text);
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }

  var ACTIVATIONS = {
    relu: function (a) { return a > 0 ? a : 0; },
    sigmoid: function (a) { return 1 / (1 + Math.exp(-a)); },
    tanh: Math.tanh,
    identity: function (a) { return a; }
  };

  /* An MLP decoder: layers of y = act(W h + b), W stored row-major (out x in), then the output map. */
  function Decoder(payload) {
    if (payload.version !== 1) throw new Error("unknown explorer data version " + payload.version);
    this.latentDim = payload.latent_dim;
    this.height = payload.height;
    this.width = payload.width;
    this.layers = payload.layers.map(function (l) {
      if (!ACTIVATIONS[l.activation]) throw new Error("unknown activation " + l.activation);
      var w = float32FromBase64(l.weight), b = float32FromBase64(l.bias);
      if (w.length !== l.in * l.out || b.length !== l.out) throw new Error("layer weights of the wrong size");
      return { nIn: l.in, nOut: l.out, w: w, b: b, act: ACTIVATIONS[l.activation] };
    });
    if (!ACTIVATIONS[payload.output]) throw new Error("unknown output map " + payload.output);
    this.output = ACTIVATIONS[payload.output];
  }
  Decoder.prototype.forward = function (z) {
    if (z.length !== this.latentDim) throw new Error("expected z of length " + this.latentDim + ", got " + z.length);
    var h = Float64Array.from(z);
    for (var k = 0; k < this.layers.length; k++) {
      var L = this.layers[k], out = new Float64Array(L.nOut);
      for (var o = 0; o < L.nOut; o++) {
        var s = L.b[o], row = o * L.nIn;
        for (var i = 0; i < L.nIn; i++) s += L.w[row + i] * h[i];
        out[o] = L.act(s);
      }
      h = out;
    }
    for (var j = 0; j < h.length; j++) h[j] = this.output(h[j]);
    return h;   // E[x|z], row-major (height x width)
  };

  /* ---------------------------------------------------------------- drawing */
  function grey(v) { return Math.round(255 * Math.min(1, Math.max(0, v))); }
  function putImage(ctx, values, w, h, x0, y0) {
    var img = ctx.createImageData(w, h);
    for (var p = 0; p < w * h; p++) {
      var g = grey(values[p]);
      img.data[4 * p] = g; img.data[4 * p + 1] = g; img.data[4 * p + 2] = g; img.data[4 * p + 3] = 255;
    }
    ctx.putImageData(img, x0 || 0, y0 || 0);
  }
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }
  function slider(role, min, max, step, value, label) {
    var input = el("input", { type: "range", min: min, max: max, step: step, value: value,
                              "data-role": role, "aria-label": label });
    var out = el("output", { "data-role": role + "-value" }, [Number(value).toFixed(2)]);
    return { input: input, out: out, row: el("label", { "class": "vae-explorer-row" }, [label + " ", input, out]) };
  }
  function imageCanvas(role, w, h, cls) {
    return el("canvas", { width: w, height: h, "data-role": role, "class": "vae-pixelated " + (cls || "") });
  }

  /* Position of a code value on the grid axis: piecewise linear between the grid's quantile codes u. */
  function axisPosition(u, value) {
    var n = u.length;
    if (value <= u[0]) return 0;
    if (value >= u[n - 1]) return n - 1;
    for (var k = 0; k < n - 1; k++) {
      if (value <= u[k + 1]) return k + (value - u[k]) / (u[k + 1] - u[k]);
    }
    return n - 1;
  }

  function mount(container, payload) {
    var dec = new Decoder(payload), W = dec.width, H = dec.height;
    var grid = payload.grid, n = grid.n, u = grid.u, lo = payload.range[0], hi = payload.range[1];
    container.innerHTML = "";
    container.classList.add("vae-explorer-live");

    // 1. sliders and the decoded image
    var s1 = slider("z1", lo, hi, 0.01, 0, "z\u2081"), s2 = slider("z2", lo, hi, 0.01, 0, "z\u2082");
    var decoded = imageCanvas("decoded", W, H, "vae-big");
    var point = el("div", { "class": "vae-explorer-panel" }, [
      el("div", { "class": "vae-explorer-caption" }, ["a point z of the latent space"]), s1.row, s2.row, decoded]);

    // 2. the manifold grid, decoded once, with the current z and the interpolation path drawn on top
    var gridCanvas = el("canvas", { width: n * W, height: n * H, "data-role": "grid", "class": "vae-grid" });
    var gridPanel = el("div", { "class": "vae-explorer-panel" }, [
      el("div", { "class": "vae-explorer-caption" }, ["decoded grid (prior quantiles 5%\u201395%); click to move z"]),
      gridCanvas]);
    var gridImage = document.createElement("canvas");
    gridImage.width = n * W; gridImage.height = n * H;
    var gctx = gridImage.getContext("2d");
    for (var i = 0; i < n; i++) {          // row i: z2 = u[n-1-i] (top row = largest z2), as latent.manifold_grid
      for (var j = 0; j < n; j++) putImage(gctx, dec.forward([u[j], u[n - 1 - i]]), W, H, j * W, i * H);
    }

    // 3. interpolation between two test digits
    var digits = payload.digits;
    function select(role, chosen) {
      var s = el("select", { "data-role": role, "aria-label": role === "from" ? "first test digit" : "second test digit" });
      digits.forEach(function (d, k) {
        var o = el("option", { value: k }, ["test digit " + d.label + " (#" + d.index + ")"]);
        if (k === chosen) o.selected = true;
        s.appendChild(o);
      });
      return s;
    }
    var from = select("from", 0), to = select("to", Math.min(1, digits.length - 1));
    var st = slider("t", 0, 1, 0.01, 0.5, "t");
    var imgA = imageCanvas("image-a", W, H), imgB = imageCanvas("image-b", W, H), between = imageCanvas("interpolated", W, H, "vae-mid");
    var interpPanel = el("div", { "class": "vae-explorer-panel" }, [
      el("div", { "class": "vae-explorer-caption" }, ["z = (1 \u2212 t)\u00b7\u03bc(x", el("sub", {}, ["a"]),
        ") + t\u00b7\u03bc(x", el("sub", {}, ["b"]), ") between the codes of two test digits"]),
      el("div", { "class": "vae-explorer-row" }, [from, " \u2192 ", to]), st.row,
      el("div", { "class": "vae-explorer-row vae-strip" }, [imgA, between, imgB])]);

    var title = container.getAttribute("data-title");
    if (title) container.appendChild(el("div", { "class": "vae-explorer-title" }, [title]));
    container.appendChild(el("div", { "class": "vae-explorer-body" }, [point, gridPanel, interpPanel]));

    function currentZ() { return [parseFloat(s1.input.value), parseFloat(s2.input.value)]; }
    function interpZ() {
      var a = digits[from.value].z, b = digits[to.value].z, t = parseFloat(st.input.value);
      return [(1 - t) * a[0] + t * b[0], (1 - t) * a[1] + t * b[1]];
    }
    function toCanvas(z) {   // centre of the grid position of z, in canvas pixels
      return [(axisPosition(u, z[0]) + 0.5) * W, (n - 1 - axisPosition(u, z[1]) + 0.5) * H];
    }
    function drawGrid() {
      var ctx = gridCanvas.getContext("2d");
      ctx.drawImage(gridImage, 0, 0);
      var a = toCanvas(digits[from.value].z), b = toCanvas(digits[to.value].z), m = toCanvas(interpZ());
      ctx.strokeStyle = "#f0a020"; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
      ctx.fillStyle = "#f0a020"; ctx.beginPath(); ctx.arc(m[0], m[1], 4, 0, 2 * Math.PI); ctx.fill();
      var p = toCanvas(currentZ());
      ctx.strokeStyle = "#e03030"; ctx.lineWidth = 3;
      ctx.beginPath(); ctx.arc(p[0], p[1], 8, 0, 2 * Math.PI); ctx.stroke();
    }
    function updatePoint() {
      var z = currentZ();
      s1.out.textContent = z[0].toFixed(2); s2.out.textContent = z[1].toFixed(2);
      putImage(decoded.getContext("2d"), dec.forward(z), W, H);
      drawGrid();
    }
    function updateInterp() {
      [[imgA, from], [imgB, to]].forEach(function (pair) {
        var bytes = bytesFromBase64(digits[pair[1].value].image), v = new Float64Array(bytes.length);
        for (var q = 0; q < bytes.length; q++) v[q] = bytes[q] / 255;
        putImage(pair[0].getContext("2d"), v, W, H);
      });
      st.out.textContent = parseFloat(st.input.value).toFixed(2);
      putImage(between.getContext("2d"), dec.forward(interpZ()), W, H);
      drawGrid();
    }
    s1.input.addEventListener("input", updatePoint);
    s2.input.addEventListener("input", updatePoint);
    st.input.addEventListener("input", updateInterp);
    from.addEventListener("change", updateInterp);
    to.addEventListener("change", updateInterp);
    gridCanvas.addEventListener("click", function (ev) {
      var r = gridCanvas.getBoundingClientRect();
      var gx = (ev.clientX - r.left) / r.width * n - 0.5, gy = n - 1 - ((ev.clientY - r.top) / r.height * n - 0.5);
      function code(pos) {            // inverse of axisPosition, clipped to the grid
        pos = Math.min(n - 1, Math.max(0, pos));
        var k = Math.min(n - 2, Math.floor(pos));
        return u[k] + (pos - k) * (u[k + 1] - u[k]);
      }
      s1.input.value = Math.min(hi, Math.max(lo, code(gx)));
      s2.input.value = Math.min(hi, Math.max(lo, code(gy)));
      updatePoint();
    });
    updatePoint();
    updateInterp();
    container.setAttribute("data-ready", "true");
    return { decoder: dec, updatePoint: updatePoint, updateInterp: updateInterp };
  }

  var api = { Decoder: Decoder, mount: mount, axisPosition: axisPosition };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.VAEExplorer = api;
})(typeof window !== "undefined" ? window : this);
