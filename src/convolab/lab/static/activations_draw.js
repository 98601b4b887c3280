// Activations, the drawing: pure functions of the server's answer (the input image with a unit's field,
// an enlarged map, the arithmetic of one unit). activations.js owns the requests, the chosen unit, the
// controls and the URL.
"use strict";

(() => {
  const { colour, marker } = LAB.views;  // views.js (shared with the notebook widgets)
  // Tiles at k canvas pixels a unit (k fills about 56 px), so a chosen unit and a field can be drawn on them.
  const tileScale = (h, w) => (h === 1 ? 1 : Math.max(1, Math.min(8, Math.floor(56 / Math.max(h, w)))));
  const paint = (canvas, data, offset, h, w, L, over = {}) =>
    LAB.views.paint(canvas, data, offset, h, w, L, { ...over, k: tileScale(h, w) });

  // an enlarged map: `cell` canvas pixels a unit, coloured on `scale`'s range, the chosen unit marked
  function drawCells(canvas, values, off, h, w, scale, cell, [row, col]) {
    canvas.width = w * cell; canvas.height = h * cell;
    const ctx = canvas.getContext("2d");
    for (let r = 0; r < h; r++) for (let q = 0; q < w; q++) {
      const [R, G, B] = colour(values[off + r * w + q], scale);
      ctx.fillStyle = `rgb(${R},${G},${B})`;
      ctx.fillRect(q * cell, r * cell, cell, cell);
    }
    marker(ctx, col * cell, row * cell, cell);
  }

  // the input image (channels averaged, grey), the field of the chosen unit shaded on it
  function drawInput(canvas, caption, result, field) {
    const [c, h, w] = result.input.shape.length === 3 ? result.input.shape : [1, 1, result.input.shape[0]];
    const cell = LAB.cellSize(canvas, h, w);
    canvas.width = w * cell; canvas.height = h * cell;
    const ctx = canvas.getContext("2d");
    for (let r = 0; r < h; r++) for (let q = 0; q < w; q++) {
      let v = 0;
      for (let k = 0; k < c; k++) v += result.inputData[k * h * w + r * w + q];
      const g = Math.round(255 * Math.max(0, Math.min(1, v / c)));
      ctx.fillStyle = `rgb(${g},${g},${g})`;
      ctx.fillRect(q * cell, r * cell, cell, cell);
    }
    canvas.dataset.cell = cell;
    if (field) {
      const [r0, r1, c0, c1] = field;
      ctx.fillStyle = "rgba(245,158,11,0.45)";
      ctx.fillRect(c0 * cell, r0 * cell, (c1 - c0 + 1) * cell, (r1 - r0 + 1) * cell);
      ctx.strokeStyle = "#b45309"; ctx.lineWidth = 2;
      ctx.strokeRect(c0 * cell + 1, r0 * cell + 1, (c1 - c0 + 1) * cell - 2, (r1 - r0 + 1) * cell - 2);
      canvas.dataset.highlight = field.join(",");
    } else delete canvas.dataset.highlight;
    caption.textContent = `input ${result.input.shape.join("x")} (${result.label})`;
  }

  // the pixel under the pointer: offsetX is measured from the padding box, clientWidth is its width
  function tilePixel(ev, canvas) {
    const k = Number(canvas.dataset.scale) || 1, h = canvas.height / k, w = canvas.width / k;
    const x = Math.floor(ev.offsetX * w / canvas.clientWidth);
    const y = Math.floor(ev.offsetY * h / canvas.clientHeight);
    return [Math.max(0, Math.min(h - 1, y)), Math.max(0, Math.min(w - 1, x))];
  }

  // how one unit's value was made (the server's /api/activations/pixel answer): kernel x window + bias
  function showDetail(box, d) {
    box.replaceChildren();
    const p = document.createElement("p");
    const act = d.activation && d.activation !== "linear" ? `${d.activation}(${LAB.fmt4(d.pre_activation)}) = ${LAB.fmt4(d.value)}` : `${LAB.fmt4(d.value)}`;
    p.textContent = `pre-activation ${LAB.fmt4(d.pre_activation)}; output ${act}`;
    box.appendChild(p);
    if (!d.detail) { box.append(`(${d.type} has no kernel: the value comes from the layer's own rule)`); return; }
    const k = d.detail;
    const q = document.createElement("p");
    q.textContent = k.kind === "conv"
      ? `sum over ${k.kernel.length} input channel(s) of kernel x window, + bias ${LAB.fmt4(k.bias)}` +
        ` (window rows ${k.rows[0]}..${k.rows[k.rows.length - 1]}, cols ${k.cols[0]}..${k.cols[k.cols.length - 1]} of the layer input; outside it is padding, 0)`
      : `dot product of ${k.kernel.length} weights with the layer input, + bias ${LAB.fmt4(k.bias)}`;
    box.appendChild(q);
    if (k.kind !== "conv") return;
    const shown = Math.min(k.kernel.length, 4);
    for (let ch = 0; ch < shown; ch++) {
      const fig = document.createElement("figure");
      const cap = document.createElement("figcaption");
      cap.textContent = `input channel ${ch}: kernel | window`;
      fig.append(cap, LAB.numberTable(k.kernel[ch]), LAB.numberTable(k.window[ch]));
      box.appendChild(fig);
    }
    if (k.kernel.length > shown) box.append(`(${k.kernel.length - shown} more input channels not shown)`);
  }

  LAB.activationsDraw = { paint, drawCells, drawInput, tilePixel, showDetail };
})();
