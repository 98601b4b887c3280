// convolab lab: drawing shared by the page's panels and the notebook widgets (convolab.widgets):
// feature maps as float32 tiles with their colour scale and legend, and blank grids with a receptive
// field shaded on them. Pure functions of their arguments (elements, not ids), registered on LAB.views.
"use strict";

LAB.views = (() => {
  // base64 of little-endian float32 (the server's and the kernel's encoding) -> Float32Array
  function floats(b64) {
    const bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }

  // signed maps: diverging blue (negative) - white (0) - red (positive), symmetric; else black -> white
  function colour(v, L) {
    if (L.signed) {
      const m = Math.max(Math.abs(L.min), Math.abs(L.max), 1e-12), t = Math.max(-1, Math.min(1, v / m));
      return t >= 0 ? [255, Math.round(255 * (1 - t)), Math.round(255 * (1 - t))]
        : [Math.round(255 * (1 + t)), Math.round(255 * (1 + t)), 255];
    }
    const span = L.max - L.min, t = span > 0 ? (v - L.min) / span : 0, g = Math.round(255 * t);
    return [g, g, g];
  }

  // One channel (h x w values of data from offset) as a canvas of k pixels a unit (over.k, default 1);
  // over.field [r0, r1, c0, c1] tints a field on it, over.unit [row, col] marks a unit.
  function paint(canvas, data, offset, h, w, L, over = {}) {
    const k = over.k || 1;
    canvas.width = w * k; canvas.height = h * k;
    canvas.dataset.scale = k;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(w * k, h * k);
    for (let i = 0; i < h * w * k * k; i++) {
      const y = Math.floor(i / (w * k) / k), x = Math.floor((i % (w * k)) / k);
      const [r, g, b] = colour(data[offset + y * w + x], L);
      img.data[4 * i] = r; img.data[4 * i + 1] = g; img.data[4 * i + 2] = b; img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    if (over.field) {  // the field of a unit of the next layer, tinted as on the input
      const [r0, r1, c0, c1] = over.field;
      ctx.fillStyle = "rgba(245,158,11,0.55)";
      ctx.fillRect(c0 * k, r0 * k, (c1 - c0 + 1) * k, (r1 - r0 + 1) * k);
      canvas.dataset.field = over.field.join(",");
    } else delete canvas.dataset.field;
    if (over.unit) marker(ctx, over.unit[1] * k, over.unit[0] * k, k);
  }

  // The chosen unit: a white ring inside a black one, seen on black, white and every colour between.
  function marker(ctx, x, y, size) {
    const t = size >= 6 ? 2 : 1;
    ctx.lineWidth = t;
    ctx.strokeStyle = "#000";
    ctx.strokeRect(x - t / 2 - t, y - t / 2 - t, size + 3 * t, size + 3 * t);
    ctx.strokeStyle = "#fff";
    ctx.strokeRect(x - t / 2, y - t / 2, size + t, size + t);
  }

  function legend(L) {
    const box = document.createElement("span");
    box.className = "legend";
    const bar = document.createElement("span");
    bar.className = L.signed ? "bar diverging" : "bar sequential";
    bar.setAttribute("aria-hidden", "true");
    const m = Math.max(Math.abs(L.min), Math.abs(L.max));
    const lo = L.signed ? -m : L.min, hi = L.signed ? m : L.max;
    box.append(LAB.fmt(lo), bar, LAB.fmt(hi) + (L.signed ? " (0 is white)" : ""));
    return box;
  }

  // A blank h x w grid that fits its container (at most 280 px, at least 2 px a cell); returns the cell size.
  function gridCanvas(canvas, h, w) {
    const cell = LAB.cellSize(canvas, h, w);
    canvas.width = w * cell; canvas.height = h * cell;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (cell >= 6) {
      ctx.strokeStyle = "#e2e5ea"; ctx.lineWidth = 1;
      for (let r = 0; r <= h; r++) { ctx.beginPath(); ctx.moveTo(0, r * cell + .5); ctx.lineTo(w * cell, r * cell + .5); ctx.stroke(); }
      for (let c = 0; c <= w; c++) { ctx.beginPath(); ctx.moveTo(c * cell + .5, 0); ctx.lineTo(c * cell + .5, h * cell); ctx.stroke(); }
    }
    canvas.dataset.cell = cell;
    return cell;
  }

  // The input interval [r0, r1, c0, c1] that output pixel (row, col) of a layer sees (its per-row and
  // per-column fields, -1 where it sees nothing): null for a structural zero or a layer without fields.
  function fieldOf(fields, row, col) {
    if (!fields) return null;
    const r0 = fields.rows.lo[row], r1 = fields.rows.hi[row], c0 = fields.cols.lo[col], c1 = fields.cols.hi[col];
    return r0 >= 0 && c0 >= 0 ? [r0, r1, c0, c1] : null;
  }

  // Shade a field [r0, r1, c0, c1] on a grid of `cell` px cells (amber fill, dark outline).
  function shadeField(canvas, field, cell, alpha = 0.55) {
    const ctx = canvas.getContext("2d"), [r0, r1, c0, c1] = field;
    ctx.fillStyle = `rgba(245,158,11,${alpha})`;
    ctx.fillRect(c0 * cell, r0 * cell, (c1 - c0 + 1) * cell, (r1 - r0 + 1) * cell);
    ctx.strokeStyle = "#b45309"; ctx.lineWidth = 2;
    ctx.strokeRect(c0 * cell + 1, r0 * cell + 1, (c1 - c0 + 1) * cell - 2, (r1 - r0 + 1) * cell - 2);
    canvas.dataset.highlight = field.join(",");
  }

  // The pointer's pixel on a canvas of h x w cells: offsetX is measured from the padding box, whose
  // width is clientWidth (the border box would put the edges one cell off).
  function cellAt(ev, canvas, cell = 1) {
    const x = Math.floor(ev.offsetX * (canvas.width / canvas.clientWidth) / cell);
    const y = Math.floor(ev.offsetY * (canvas.height / canvas.clientHeight) / cell);
    return [y, x];
  }

  return { floats, colour, paint, marker, legend, gridCanvas, fieldOf, shadeField, cellAt };
})();
