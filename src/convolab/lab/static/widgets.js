// convolab lab: the notebook widgets' views (convolab.widgets, anywidget). The kernel computes every
// number with the same functions as the lab's JSON API and hands them over as the model's `data`; these
// views draw them with the page's own helpers (common.js, views.js, arith_draw.js). Requests go back to
// the kernel as custom messages (model.send); nothing here fetches anything. convolab/widgets/bundle.py
// joins this file and the helpers into one ES module that ends with `export default`.
"use strict";

LAB.widgets = (() => {
  const V = LAB.views;
  function el(tag, attrs = {}, ...kids) { return LAB.arithDraw.el(tag, attrs, ...kids); }
  function shapeText(s) { return "(" + s.join(", ") + ")"; }

  // ---- Explorer: the summary table; hover a row, then a pixel of its output: the field on the input ----
  function explorer(model, root) {
    const table = el("table", { class: "cw-summary" });
    const info = el("p", { class: "info cw-info", "aria-live": "polite" });
    const inCanvas = el("canvas", { class: "cw-rf-input", "aria-label": "input grid" });
    const outCanvas = el("canvas", { class: "cw-rf-output", tabindex: 0, "aria-label": "output grid of the chosen layer" });
    const outCap = el("figcaption");
    root.append(el("h4", { class: "cw-title" }), el("div", { class: "table-scroll" }, table),
      el("div", { class: "row" }, el("figure", {}, el("figcaption", { text: "input" }), inCanvas),
        el("figure", {}, outCap, outCanvas)), info);
    let pixel = null;
    const data = () => model.get("data");
    const chosen = () => data().layers.findIndex(L => L.name === model.get("layer"));

    function draw() {
      const A = data(), L = A.layers[chosen()], shape = A.input_shape;
      if (shape.length !== 3) { info.textContent = "receptive fields are shown for image inputs (C, H, W)"; return; }
      const cellIn = V.gridCanvas(inCanvas, shape[1], shape[2]);
      delete inCanvas.dataset.highlight;
      if (!L || !L.fields) { outCanvas.width = outCanvas.height = 1; outCap.textContent = L ? `${L.name} (not a feature map)` : ""; return; }
      const [, h, w] = L.output_shape, cell = V.gridCanvas(outCanvas, h, w);
      outCap.textContent = `${L.name} ${h}x${w}`;
      if (!pixel) { info.textContent = `hover a pixel of ${L.name}'s output`; return; }
      const [y, x] = pixel, ctx = outCanvas.getContext("2d");
      ctx.fillStyle = "rgba(37,99,235,0.7)"; ctx.fillRect(x * cell, y * cell, cell, cell);
      const f = V.fieldOf(L.fields, y, x);
      if (!f) { info.textContent = `${L.name} (${y}, ${x}) sees no input pixel (a structural zero)`; return; }
      V.shadeField(inCanvas, f, cellIn);
      info.textContent = `${L.name} (${y}, ${x}) sees input rows ${f[0]}-${f[1]}, cols ${f[2]}-${f[3]} ` +
        `(${f[1] - f[0] + 1}x${f[3] - f[2] + 1} pixels)`;
    }
    function choose(i) { pixel = null; model.set("layer", data().layers[i].name); model.save_changes(); }
    function renderTable() {
      const A = data();
      root.querySelector(".cw-title").textContent = `Model: ${A.name}`;
      table.replaceChildren();
      const head = table.createTHead().insertRow();
      for (const t of ["Layer", "Type", "Output shape", "Param #", "MACs", "RF (max)"]) head.append(el("th", { text: t }));
      const body = table.createTBody();
      A.layers.forEach((L, i) => {
        const rf = L.receptive_field;
        const tr = el("tr", { tabindex: 0, "data-index": i, "data-layer": L.name });
        const cells = [L.name, L.type, shapeText(L.output_shape), LAB.int(L.params), LAB.int(L.macs), rf ? `${rf.h.max}x${rf.w.max}` : "-"];
        for (const t of cells) tr.append(el("td", { text: t }));
        tr.firstChild.title = `${L.name}: ${L.type}`;  // the type column is hidden on narrow screens
        if (rf) tr.lastChild.title = `rows: max ${rf.h.max}, centre ${rf.h.center}, jump ${rf.h.jump}; cols: max ${rf.w.max}, centre ${rf.w.center}, jump ${rf.w.jump}`;
        tr.addEventListener("mouseenter", () => { if (chosen() !== i) choose(i); });
        tr.addEventListener("click", () => choose(i));
        tr.addEventListener("keydown", ev => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); choose(i); } });
        body.append(tr);
      });
      const foot = table.createTFoot().insertRow();
      for (const t of ["total", "", "input " + shapeText(A.input_shape), LAB.int(A.total_params), LAB.int(A.total_macs), ""]) foot.append(el("td", { text: t }));
      mark();
    }
    function mark() {
      const i = chosen();
      table.querySelectorAll("tbody tr").forEach(tr => tr.classList.toggle("selected", Number(tr.dataset.index) === i));
      draw();
    }
    function at(y, x) {
      const L = data().layers[chosen()];
      if (!L || !L.fields) return;
      const [, h, w] = L.output_shape;
      if (y < 0 || x < 0 || y >= h || x >= w) return;
      pixel = [y, x]; draw();
    }
    outCanvas.addEventListener("mousemove", ev => at(...V.cellAt(ev, outCanvas, Number(outCanvas.dataset.cell))));
    outCanvas.addEventListener("keydown", ev => {
      const step = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[ev.key];
      if (!step) return;
      ev.preventDefault();
      const [y, x] = pixel || [0, 0];
      at(pixel ? y + step[0] : 0, pixel ? x + step[1] : 0);
    });
    model.on("change:data", renderTable);
    model.on("change:layer", () => { pixel = null; mark(); });
    renderTable();
    return { at };
  }

  // ---- Activations: every layer's maps; hover a unit: its field on the input; click: what made it ----
  function activations(model, root) {
    const inCanvas = el("canvas", { class: "cw-act-input", "aria-label": "input image" });
    const readout = el("p", { class: "info cw-readout", "aria-live": "polite" });
    const detail = el("div", { class: "detail cw-detail" });
    const layersBox = el("div", { class: "cw-layers" });
    root.append(el("h4", { class: "cw-title" }), el("div", { class: "row" },
      el("figure", {}, el("figcaption", { class: "cw-input-cap" }), inCanvas),
      el("div", { class: "cw-side" }, readout, detail)), layersBox);
    let A = null;

    function decode() {  // a copy: the model's own state is never written to
      const data = model.get("data");
      A = { ...data, layers: data.layers.map(L => ({ ...L })) };
      A.inputData = V.floats(A.input.data);
      for (const L of A.layers) L.values = V.floats(L.data);
    }
    function drawInput(field) {
      const [c, h, w] = A.input.shape.length === 3 ? A.input.shape : [1, 1, A.input.shape[0]];
      const cell = LAB.cellSize(inCanvas, h, w);
      inCanvas.width = w * cell; inCanvas.height = h * cell;
      const ctx = inCanvas.getContext("2d");
      for (let r = 0; r < h; r++) for (let q = 0; q < w; q++) {
        let v = 0;
        for (let k = 0; k < c; k++) v += A.inputData[k * h * w + r * w + q];
        const g = Math.round(255 * Math.max(0, Math.min(1, v / c)));
        ctx.fillStyle = `rgb(${g},${g},${g})`; ctx.fillRect(q * cell, r * cell, cell, cell);
      }
      delete inCanvas.dataset.highlight;
      if (field) V.shadeField(inCanvas, field, cell, 0.45);
    }
    function render() {
      decode();
      root.querySelector(".cw-title").textContent = `${A.model}: activations (${A.label})`;
      root.querySelector(".cw-input-cap").textContent = `input ${A.input.shape.join("x")}`;
      drawInput(null);
      layersBox.replaceChildren(...A.layers.map((L, li) => {
        const spatial = L.shape.length === 3, [h, w] = spatial ? [L.shape[1], L.shape[2]] : [1, L.values.length];
        const head = el("h4", { text: `${L.name}: ${L.type}${L.activation ? ", " + L.activation : ""} ${shapeText(L.shape)}` +
          (L.latent ? " - the latent code" : "") + (L.channels_shown < L.channels ? ` - first ${L.channels_shown} of ${L.channels} channels shown` : "") + " " });
        head.append(V.legend(L));
        const tiles = el("div", { class: "tiles" });
        for (let c = 0; c < L.channels_shown; c++) {
          const cv = el("canvas", { class: "tile" + (spatial ? "" : " flat"), tabindex: 0, role: "img", "data-layer": li, "data-channel": c,
            "aria-label": `${L.name} channel ${c}, ${h}x${w}` });
          V.paint(cv, L.values, c * h * w, h, w, L);
          cv.addEventListener("mousemove", ev => focus(li, c, ...V.cellAt(ev, cv), false));
          cv.addEventListener("click", ev => focus(li, c, ...V.cellAt(ev, cv), true));
          cv.addEventListener("keydown", ev => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); focus(li, c, 0, 0, true); } });
          tiles.append(cv);
        }
        return el("section", { class: "act-layer" + (L.latent ? " latent" : ""), "data-layer": L.name, "data-min": L.min, "data-max": L.max }, head, tiles);
      }));
    }
    // a unit of layer li, channel c at (row, col) (a flat layer: unit col); ask = click: ask the kernel
    function focus(li, c, row, col, ask) {
      const L = A.layers[li], spatial = L.shape.length === 3;
      if (!spatial) { row = 0; }
      const idx = spatial ? c * L.shape[1] * L.shape[2] + row * L.shape[2] + col : col;
      const f = spatial ? V.fieldOf(L.fields, row, col) : null;
      drawInput(f);
      const seen = !L.fields ? "" : f ? `; sees input rows ${f[0]}-${f[1]}, cols ${f[2]}-${f[3]}` : "; sees no input pixel (a structural zero)";
      const where = spatial ? `channel ${c} (${row}, ${col})` : `unit ${col}`;
      readout.textContent = `${L.name} ${where} = ${LAB.fmt4(L.values[idx])}${seen}`;
      Object.assign(readout.dataset, { layer: li, channel: c, row, col, value: String(L.values[idx]) });
      if (ask) model.send({ type: "pixel", layer: li, channel: spatial ? c : 0, row: spatial ? row : 0, col });
    }
    function showDetail(d) {
      detail.replaceChildren();
      const act = d.activation && d.activation !== "linear" ? `${d.activation}(${LAB.fmt4(d.pre_activation)}) = ${LAB.fmt4(d.value)}` : LAB.fmt4(d.value);
      detail.append(el("p", { class: "cw-pre", "data-pre": String(d.pre_activation), "data-value": String(d.value),
        text: `${d.name} channel ${d.channel} (${d.row}, ${d.col}): pre-activation ${LAB.fmt4(d.pre_activation)}; output ${act}` }));
      const k = d.detail;
      if (!k) { detail.append(`(${d.type} has no kernel: the value comes from the layer's own rule)`); return; }
      detail.append(el("p", { text: k.kind === "conv" ? `sum over ${k.kernel.length} input channel(s) of kernel x window, + bias ${LAB.fmt4(k.bias)}`
        : `dot product of ${k.kernel.length} weights with the layer input, + bias ${LAB.fmt4(k.bias)}` }));
      if (k.kind !== "conv") return;
      for (let ch = 0; ch < Math.min(k.kernel.length, 4); ch++) {
        detail.append(el("figure", {}, el("figcaption", { text: `input channel ${ch}: kernel | window` }),
          LAB.numberTable(k.kernel[ch]), LAB.numberTable(k.window[ch])));
      }
      if (k.kernel.length > 4) detail.append(`(${k.kernel.length - 4} more input channels not shown)`);
    }
    model.on("msg:custom", msg => {
      if (msg.type === "pixel") showDetail(msg.result);
      else if (msg.type === "error") detail.replaceChildren(el("p", { class: "error", text: msg.message }));
    });
    model.on("change:data", render);
    render();
    return { focus, values: () => ({ input: Array.from(A.inputData), layers: A.layers.map(L => ({ name: L.name, values: Array.from(L.values) })) }) };
  }

  // ---- ConvArithmetic: the lab's trace of one layer, step by step (`step` is synced with the kernel) ----
  function arith(model, root) {
    const btn = (cls, label, text) => el("button", { type: "button", class: cls, "aria-label": label, text });
    const first = btn("cw-first", "first step", "« first"), prev = btn("cw-prev", "step back", "◀ back");
    const play = btn("cw-play", "play", "▶ play"), next = btn("cw-next", "step forward", "step ▶"), last = btn("cw-last", "last step", "last »");
    const counter = el("span", { class: "ar-counter" }), formulas = el("div", { class: "ar-formulas" });
    const planes = el("div", { class: "row" }), equation = el("p", { class: "ar-equation" });
    const stage = el("div", { class: "ar-stage", tabindex: 0, role: "group", "aria-label": "animation; arrow keys step, space plays or pauses" }, planes, equation);
    root.append(el("h4", { class: "cw-title" }), formulas,
      el("div", { class: "ar-player", role: "toolbar", "aria-label": "animation controls" }, first, prev, play, next, last, counter), stage);
    let timer = null;
    const res = () => model.get("data");
    const total = () => res().steps.length + (res().crop ? 1 : 0);

    function renderFormulas() {
      const r = res(), f = r.formulas.unpool ? r.formulas.unpool : r.formulas;
      root.querySelector(".cw-title").textContent = `${r.layer}: input ${r.input_shape.slice(1).join("×")} → output ${r.output_shape.slice(1).join("×")}`;
      formulas.replaceChildren();
      const add = (name, part) => formulas.append(el("div", {}, el("b", { text: name + ": " }),
        el("span", { class: "sym", text: part.symbolic }), " → ", el("code", { text: part.text })));
      add("output rows H′", f.output[1]); add("output cols W′", f.output[2]);
      for (const p of r.formulas.padding || []) {
        formulas.append(el("div", {}, el("b", { text: `'same' padding ${p.axis}: ` }), "P = ", el("code", { text: p.total.text }),
          `; before ${p.before.value}, after ${p.after.value}`));
      }
      if (f.params) add("parameters", f.params);
      if (f.macs) add("MACs", f.macs);
    }
    function render() {
      const r = res(), n = total(), i = Math.max(0, Math.min(model.get("step"), n - 1));
      const out = r.mode === "gather" ? LAB.arithDraw.gather(r, i) : LAB.arithDraw.scatter(r, i, n);
      planes.replaceChildren(...out.planes);
      equation.textContent = out.text;
      counter.textContent = `step ${i + 1} of ${n}`;
      Object.assign(stage.dataset, { step: i, total: n, layer: r.layer });
      prev.disabled = first.disabled = i === 0;
      next.disabled = last.disabled = i === n - 1;
    }
    function go(i) { model.set("step", Math.max(0, Math.min(i, total() - 1))); model.save_changes(); render(); }
    function stop() { if (timer) clearInterval(timer); timer = null; play.textContent = "▶ play"; play.setAttribute("aria-label", "play"); }
    function toggle() {
      if (timer) { stop(); return; }
      if (model.get("step") >= total() - 1) go(0);
      play.textContent = "❚❚ pause"; play.setAttribute("aria-label", "pause");
      timer = setInterval(() => { if (model.get("step") >= total() - 1) stop(); else go(model.get("step") + 1); }, 400);
    }
    first.addEventListener("click", () => { stop(); go(0); });
    prev.addEventListener("click", () => { stop(); go(model.get("step") - 1); });
    next.addEventListener("click", () => { stop(); go(model.get("step") + 1); });
    last.addEventListener("click", () => { stop(); go(total() - 1); });
    play.addEventListener("click", toggle);
    stage.addEventListener("keydown", ev => {
      const s = model.get("step");
      const act = { ArrowRight: () => go(s + 1), ArrowDown: () => go(s + 1), ArrowLeft: () => go(s - 1), ArrowUp: () => go(s - 1),
        Home: () => go(0), End: () => go(total() - 1), " ": toggle }[ev.key];
      if (!act) return;
      ev.preventDefault(); if (ev.key !== " ") stop(); act();
    });
    model.on("change:data", () => { stop(); renderFormulas(); render(); });
    model.on("change:step", render);
    renderFormulas(); render();
    return { stop };
  }

  const VIEWS = { explorer, activations, arith };

  // anywidget's render: the model's `_view` names the view; the returned function is its cleanup
  function render({ model, el: host }) {
    const root = document.createElement("div");
    root.className = "convolab-widget cw-" + model.get("_view");
    host.append(root);
    const view = VIEWS[model.get("_view")](model, root);
    root.convolab = view;  // tests and scripts reach the view's state here
    return () => { if (view.stop) view.stop(); root.remove(); };
  }

  return { render, explorer, activations, arith };
})();
