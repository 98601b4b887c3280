// Conv arithmetic, the drawing: a trace step (the server's answer) as SVG grids and its arithmetic as
// text. Pure functions of the answer and the step; arith.js owns the controls, the playback and the URL.
"use strict";

(() => {
  // ---- small DOM helpers ------------------------------------------------------------------------------
  function el(tag, attrs = {}, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "text") e.textContent = v; else if (v !== undefined && v !== null) e.setAttribute(k, v);
    }
    for (const k of kids) e.append(k);
    return e;
  }
  // the SVG namespace as the HTML parser assigns it (the page's files hold no absolute URL at all)
  const SVGNS = (() => { const d = document.createElement("div"); d.innerHTML = "<svg></svg>"; return d.firstChild.namespaceURI; })();
  function sv(tag, attrs) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  }
  const fmt = v => (v === null || v === undefined) ? "" : (v < 0 ? "−" + LAB.fmt(-v) : LAB.fmt(v));
  const par = v => v < 0 ? `(${fmt(v)})` : fmt(v);
  // the written-out arithmetic: 6 significant digits, so the sum on the page adds up (the cells keep fmt)
  const exact = v => (v === null || v === undefined) ? "" : (v < 0 ? "−" : "") + String(Number(Math.abs(v).toPrecision(6)));
  const parx = v => v < 0 ? `(${exact(v)})` : exact(v);

  const CELL = 34;

  // A grid as SVG: cells rows r0..r1, cols c0..c1 (input coordinates; outside 0..h-1 is padding).
  function plane(id, title, r0, r1, c0, c1, cellFn, label) {
    const rows = r1 - r0 + 1, cols = c1 - c0 + 1;
    const svg = sv("svg", { id, viewBox: `0 0 ${cols * CELL + 2} ${rows * CELL + 2}`, width: cols * CELL + 2,
      role: "img", "aria-label": label, class: "ar-plane" });
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        const x = (c - c0) * CELL + 1, y = (r - r0) * CELL + 1, o = cellFn(r, c);
        const rect = sv("rect", { x, y, width: CELL, height: CELL, class: o.cls });
        if (o.hl) rect.classList.add(o.hl);
        svg.append(rect);
        if (o.text !== undefined && o.text !== "") {
          const t = sv("text", { x: x + CELL / 2, y: y + CELL / 2 + (o.sub ? -3 : 1), class: "v" });
          t.textContent = o.text; svg.append(t);
        }
        if (o.sub) { const t = sv("text", { x: x + CELL - 3, y: y + CELL - 4, class: "w" }); t.textContent = o.sub; svg.append(t); }
      }
    }
    return el("figure", {}, el("figcaption", { text: title }), svg);
  }

  function key(r, c) { return r + "," + c; }

  function renderGather(res, i) {
    const s = res.steps[Math.min(i, res.steps.length - 1)];
    const [C, h, w] = res.input_shape, n = s.taps.length / C;
    let r0 = 0, r1 = h - 1, c0 = 0, c1 = w - 1;
    for (const stp of res.steps) for (const t of stp.taps) { r0 = Math.min(r0, t[0]); r1 = Math.max(r1, t[0]); c0 = Math.min(c0, t[1]); c1 = Math.max(c1, t[1]); }
    const best = s.best ? key(...s.best) : null;
    const padded = r0 < 0 || c0 < 0 || r1 >= h || c1 >= w ? " with padding (dashed)" : "";
    // one input plane per channel (Conv2D may have several), each with its window and its kernel slice
    const inputs = (C > 1 ? res.input : [res.input]).map((grid, ch) => {
      const taps = new Map(s.taps.slice(ch * n, (ch + 1) * n).map(t => [key(t[0], t[1]), t]));
      const name = C > 1 ? `input channel ${ch}` : "input";
      return plane(ch ? `ar-input-${ch}` : "ar-input", `${name} ${h}×${w}` + padded, r0, r1, c0, c1, (r, c) => {
        const inside = r >= 0 && c >= 0 && r < h && c < w, t = taps.get(key(r, c));
        const o = { cls: inside ? "in" : "pad", text: inside ? fmt(grid[r][c]) : res.op === "dot" ? "0" : res.op === "max" ? "−∞" : "" };
        if (t) { o.hl = best === key(r, c) ? "best" : "win"; if (t[3] !== null && res.op === "dot") o.sub = "×" + fmt(t[3]); }
        return o;
      }, `${name} grid ${h} by ${w}; the window of step ${i + 1} covers ${n} cells`);
    });
    const [oh, ow] = res.output_shape.slice(1);
    const shown = [];
    const output = plane("ar-output", `output ${oh}×${ow}`, 0, oh - 1, 0, ow - 1, (r, c) => {
      const k = r * ow + c, done = k <= i;
      return { cls: done ? "out" : "todo", text: done ? fmt(res.steps[k].value) : "", hl: k === i ? "cur" : null };
    }, `output grid ${oh} by ${ow}, ${Math.min(i + 1, oh * ow)} cells computed`);
    for (let r = 0; r < oh; r++) { shown.push([]); for (let c = 0; c < ow; c++) shown[r].push(r * ow + c <= i ? res.steps[r * ow + c].value : null); }
    output.querySelector("svg").dataset.values = JSON.stringify(shown);
    return { planes: [...inputs, output], text: gatherText(res, s) };
  }

  function gatherText(res, s) {
    const [r, c] = s.out, real = s.taps.filter(t => t[2] !== null);
    const head = `out[${r}, ${c}] = `;
    if (res.op === "max") {
      const pads = s.taps.length - real.length;
      return head + `max(${real.map(t => exact(t[2])).join(", ")}) = ${exact(s.value)}` +
        (pads ? `   (${pads} padding cell${pads > 1 ? "s" : ""} never win${pads > 1 ? "" : "s"})` : "") + `; the max is at (${s.best.join(", ")})`;
    }
    if (res.op === "mean") {
      return head + `(${real.map(t => exact(t[2])).join(" + ")}) / ${real.length} = ${exact(s.value)}` +
        (real.length < s.taps.length ? "   (the mean of the real cells only: padding is not counted)" : "");
    }
    const term = t => t[2] === null ? `0·${parx(t[3])}` : `${parx(t[2])}·${parx(t[3])}`;
    const bias = res.bias ? ` + ${parx(res.bias)} (bias)` : "";
    const pads = s.taps.some(t => t[2] === null) ? "   (0: padding)" : "";
    if (res.channels > 1) {  // each channel's window times its kernel slice, then the sum over channels
      const n = s.taps.length / res.channels;
      const lines = s.partials.map((p, ch) => `channel ${ch}: ` + s.taps.slice(ch * n, (ch + 1) * n).map(term).join(" + ") + ` = ${exact(p)}`);
      return [...lines, head + s.partials.map(parx).join(" + ") + bias + ` = ${exact(s.value)}` + pads].join("\n");
    }
    return head + s.taps.map(term).join(" + ") + bias + ` = ${exact(s.value)}` + pads;
  }

  function renderScatter(res, i, total) {  // total: the number of steps, the crop included
    const [h, w] = res.input_shape.slice(1), n = res.steps.length, cropStep = res.crop && i >= n;
    const s = res.steps[Math.min(i, n - 1)];
    const acc = [];
    const [fh, fw] = res.canvas;
    for (let r = 0; r < fh; r++) acc.push(new Array(fw).fill(null));
    for (let k = 0; k <= Math.min(i, n - 1); k++) {
      for (const [r, c, , p] of res.steps[k].cells) acc[r][c] = res.op === "add" ? (acc[r][c] || 0) + p : p;
    }
    const stamp = new Set(cropStep ? [] : s.cells.map(t => key(t[0], t[1])));
    const planes = [];
    if (res.source) {
      const win = new Set(cropStep ? [] : s.window.map(t => key(t[0], t[1])));
      const [sh, sw] = [res.source.length, res.source[0].length];
      planes.push(plane("ar-source", `encoder map ${sh}×${sw}, max-pooled`, 0, sh - 1, 0, sw - 1, (r, c) => ({
        cls: "in", text: fmt(res.source[r][c]), hl: key(r, c) === key(...s.cells[0].slice(0, 2)) ? "best" : win.has(key(r, c)) ? "win" : null,
      }), `encoder map ${sh} by ${sw}; the pooling window of step ${i + 1} and its switch are highlighted`));
    }
    planes.push(plane("ar-input", res.source ? `pooled values ${h}×${w} (unpool input)` : `input ${h}×${w}`, 0, h - 1, 0, w - 1, (r, c) => ({
      cls: "in", text: fmt(res.input[r][c]), hl: !cropStep && r === s.in[0] && c === s.in[1] ? "cur" : null,
    }), `input grid ${h} by ${w}, pixel ${s.in.join(", ")} is being written out`));
    const [oh, ow] = res.output_shape.slice(1);
    const last = i >= total - 1;
    if (res.crop) {
      const [top, left, nh, nw] = res.crop;
      planes.push(plane("ar-full", `full output ${fh}×${fw} (dashed cells are cropped)`, 0, fh - 1, 0, fw - 1, (r, c) => {
        const inCrop = r >= top && r < top + nh && c >= left && c < left + nw;
        const cls = (acc[r][c] === null ? "todo" : "acc") + (inCrop ? "" : " outside");  // dashed: Keras crops it
        return { cls, text: fmt(acc[r][c]), hl: stamp.has(key(r, c)) ? "win" : cropStep && !inCrop ? "cropped" : null };
      }, `full transposed output ${fh} by ${fw}; Keras keeps rows ${top} to ${top + nh - 1}, cols ${left} to ${left + nw - 1}`));
    }
    const values = last ? res.output : res.crop ? null : acc;
    const output = plane("ar-output", `output ${oh}×${ow}` + (res.crop ? " (after the crop" + (res.bias ? " and bias)" : ")") : ""), 0, oh - 1, 0, ow - 1, (r, c) => {
      const v = values ? values[r][c] : null;
      return { cls: v === null || v === undefined ? "todo" : "out", text: v === null || v === undefined ? "" : fmt(v), hl: !res.crop && stamp.has(key(r, c)) ? "cur" : null };
    }, `output grid ${oh} by ${ow}` + (last ? ", complete" : ""));
    output.querySelector("svg").dataset.values = JSON.stringify(values ? values.map(row => row.map(v => v === undefined ? null : v)) : null);
    planes.push(output);
    return { planes, text: cropStep ? cropText(res) : scatterText(res, s) };
  }

  function scatterText(res, s) {
    const [r, c] = s.in, rows = s.cells.map(t => t[0]), cols = s.cells.map(t => t[1]);
    const span = (a) => Math.min(...a) === Math.max(...a) ? `${Math.min(...a)}` : `${Math.min(...a)}–${Math.max(...a)}`;
    if (res.layer === "Conv2DTranspose") {
      return `x[${r}, ${c}] = ${fmt(s.x)} stamps ${fmt(s.x)}·kernel into rows ${span(rows)}, cols ${span(cols)} of the full output, adding: ` +
        s.cells.map(t => `${par(s.x)}·${par(t[2])} = ${fmt(t[3])}`).join(", ");
    }
    if (res.layer === "MaxUnpool2D") {
      return `pooled value [${r}, ${c}] = ${fmt(s.x)} goes back to its switch (${s.cells[0][0]}, ${s.cells[0][1]}), where its window's max was; the rest of the window stays 0`;
    }
    if (res.layer === "BedOfNails2D") return `x[${r}, ${c}] = ${fmt(s.x)} goes to (${rows[0]}, ${cols[0]}), the top-left of its cell; the rest of the cell stays 0`;
    return `x[${r}, ${c}] = ${fmt(s.x)} is copied into rows ${span(rows)}, cols ${span(cols)}`;
  }

  function cropText(res) {
    const [top, left, nh, nw] = res.crop, [fh, fw] = res.canvas;
    return `Keras keeps rows ${top}–${top + nh - 1} and cols ${left}–${left + nw - 1} of the ${fh}×${fw} full output ` +
      `(crop ⌊P/2⌋ before, P = full − output; a longer output is padded with 0)` + (res.bias ? ` and adds the bias ${fmt(res.bias)}` : "") +
      `: the ${nh}×${nw} output, exactly the layer's`;
  }

  LAB.arithDraw = { el, sv, fmt, par, gather: renderGather, scatter: renderScatter };
})();
