// Conv arithmetic: one small layer of any configuration, animated step by step from the server's trace.
// The server runs the real convolab layer and writes out every step (window cells, padding, weights,
// products, sums; or each input pixel's stamp); this file only draws what it answers, so the animation
// cannot disagree with the library. Colours follow conv_arithmetic: blue input, cyan output.
"use strict";

(() => {
  const $ = id => document.getElementById(id);
  const CONV = ["Conv2D", "Conv2DTranspose"], POOLS = ["MaxPool2D", "AvgPool2D", "MaxUnpool2D"];
  const KINDS = ["Conv2D", "Conv2DTranspose", "MaxPool2D", "AvgPool2D", "UpSampling2D", "BedOfNails2D", "MaxUnpool2D"];
  // the layer arguments the panel edits: [key, label, kind of control, kinds it applies to, extra]
  const FIELDS = [
    ["kernel_size", "kernel", "pair", CONV, { min: 1, max: 7, def: [3, 3] }],
    ["pool_size", "pool size", "pair", POOLS, { min: 1, max: 7, def: [2, 2] }],
    ["strides", "strides", "pair", [...CONV, ...POOLS], { min: 1, max: 4, optional: "default" }],
    ["padding", "padding", "choice", [...CONV, ...POOLS], { choices: ["valid", "same"] }],
    ["dilation_rate", "dilation", "pair", CONV, { min: 1, max: 4, optional: "1" }],
    ["output_padding", "output padding", "pair", ["Conv2DTranspose"], { min: 0, max: 3, optional: "none" }],
    ["size", "factor", "pair", ["UpSampling2D", "BedOfNails2D"], { min: 1, max: 4, def: [2, 2] }],
    ["interpolation", "interpolation", "choice", ["UpSampling2D"], { choices: ["nearest", "bilinear"] }],
    ["use_bias", "bias", "bool", CONV, {}],
  ];
  const PRESETS = {  // a starting configuration per layer, chosen to show its point
    Conv2D: { grid: [6, 6], args: { kernel_size: [3, 3], strides: [2, 2], padding: "same" } },
    Conv2DTranspose: { grid: [3, 3], args: { kernel_size: [3, 3], strides: [2, 2], padding: "same" } },
    MaxPool2D: { grid: [5, 5], args: { pool_size: [2, 2], padding: "same" } },
    AvgPool2D: { grid: [5, 5], args: { pool_size: [2, 2], padding: "same" } },
    UpSampling2D: { grid: [3, 3], args: { size: [2, 2], interpolation: "nearest" } },
    BedOfNails2D: { grid: [3, 3], args: { size: [2, 2] } },
    MaxUnpool2D: { grid: [6, 6], args: { pool_size: [2, 2] } },
  };
  const CELL = 34;
  const st = { kind: "Conv2D", grid: [], kernel: [], res: null, step: 0, timer: null, seed: 1, reqNo: 0, wantStep: 0 };

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
  function rng(seed) {  // small deterministic generator for the "new values" button
    let s = seed >>> 0 || 1;
    return () => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return ((s >>> 0) % 1000) / 1000; };
  }
  const fmt = v => (v === null || v === undefined) ? "" : (v < 0 ? "−" + LAB.fmt(-v) : LAB.fmt(v));
  const par = v => v < 0 ? `(${fmt(v)})` : fmt(v);

  // ---- controls ---------------------------------------------------------------------------------------
  function buildPanel() {
    const root = $("arith");
    const kindSel = el("select", { id: "ar-kind" });
    for (const k of KINDS) kindSel.append(el("option", { value: k, text: k }));
    const controls = el("div", { class: "controls", id: "ar-controls" },
      el("label", {}, "Layer", kindSel),
      el("label", {}, "Input rows", el("input", { id: "ar-rows", type: "number", min: 1, max: 16, value: 6 })),
      el("label", {}, "Input cols", el("input", { id: "ar-cols", type: "number", min: 1, max: 16, value: 6 })));
    for (const [key, label, type, kinds, x] of FIELDS) {
      let field;
      if (type === "pair") {
        const mk = (axis, name) => el("input", { id: `ar-${key}-${axis}`, type: "number", min: x.min, max: x.max,
          placeholder: x.optional || "", "aria-label": `${label} ${name}` });
        field = el("span", { class: "pair" }, mk(0, "rows"), "×", mk(1, "cols"));
      } else if (type === "choice") {
        field = el("select", { id: `ar-${key}` });
        for (const c of x.choices) field.append(el("option", { value: c, text: c }));
      } else {
        field = el("input", { id: `ar-${key}`, type: "checkbox", checked: "" });
      }
      const lab = el(type === "pair" ? "div" : "label", { class: "field", "data-kinds": kinds.join(" ") },
        el("span", { text: label }), field);
      if (type === "pair") lab.setAttribute("role", "group"), lab.setAttribute("aria-label", label);
      controls.append(lab);
    }
    controls.append(
      el("label", { class: "field", "data-kinds": CONV.join(" ") }, "bias value",
        el("input", { id: "ar-bias", type: "number", step: "any", value: 0 })),
      el("button", { id: "ar-random", type: "button", text: "new values" }));
    const editors = el("div", { class: "row ar-editors" },
      el("figure", {}, el("figcaption", { id: "ar-grid-cap", text: "input values (editable)" }),
        el("div", { class: "ar-scroll" }, el("table", { id: "ar-grid", class: "grid-input" }))),
      el("figure", { id: "ar-kernel-fig" }, el("figcaption", { text: "kernel weights (editable)" }),
        el("div", { class: "ar-scroll" }, el("table", { id: "ar-kernel", class: "grid-input" }))));
    const player = el("div", { class: "ar-player", role: "toolbar", "aria-label": "animation controls" },
      el("button", { id: "ar-first", type: "button", "aria-label": "first step", text: "« first" }),
      el("button", { id: "ar-prev", type: "button", "aria-label": "step back", text: "◀ back" }),
      el("button", { id: "ar-play", type: "button", "aria-label": "play", text: "▶ play" }),
      el("button", { id: "ar-next", type: "button", "aria-label": "step forward", text: "step ▶" }),
      el("button", { id: "ar-last", type: "button", "aria-label": "last step", text: "last »" }),
      el("label", {}, "speed", el("input", { id: "ar-speed", type: "range", min: 1, max: 10, value: 3,
        "aria-valuetext": "3 steps per second" })),
      el("span", { id: "ar-counter", class: "ar-counter" }));
    const stage = el("div", { id: "ar-stage", class: "ar-stage", tabindex: 0, role: "group",
      "aria-label": "animation; arrow keys step, space plays or pauses, Home and End jump",
      "aria-describedby": "ar-equation" },
      el("div", { id: "ar-planes", class: "row" }),
      el("p", { id: "ar-equation", class: "ar-equation" }));
    root.append(controls, el("div", { id: "ar-error", class: "error", role: "alert", hidden: "" }), editors,
      el("div", { id: "ar-formulas", class: "ar-formulas" }), player, stage,
      el("p", { id: "ar-live", class: "sr-only", "aria-live": "polite" }));
  }

  function setArgs(args) {
    for (const [key, , type] of FIELDS) {
      const v = args[key];
      if (type === "pair") {
        const p = v === undefined || v === null ? ["", ""] : Array.isArray(v) ? v : [v, v];
        $(`ar-${key}-0`).value = p[0]; $(`ar-${key}-1`).value = p[1];
      } else if (type === "choice") {
        const def = FIELDS.find(f => f[0] === key)[4].choices[0];
        $(`ar-${key}`).value = v === undefined ? def : v;
      } else $(`ar-${key}`).checked = v === undefined ? true : v;
    }
    for (const [key, , type, , x] of FIELDS) {  // required pairs get their default
      if (type === "pair" && x.def && $(`ar-${key}-0`).value === "") { $(`ar-${key}-0`).value = x.def[0]; $(`ar-${key}-1`).value = x.def[1]; }
    }
  }

  // The request body from the controls; an empty required field is an error, never a silent 0.
  function readArgs() {
    const args = {};
    for (const [key, label, type, kinds, x] of FIELDS) {
      if (!kinds.includes(st.kind)) continue;
      if (type === "pair") {
        const a = $(`ar-${key}-0`).value.trim(), b = $(`ar-${key}-1`).value.trim();
        if (a === "" && b === "" && x.optional) continue;
        if (a === "" || b === "") throw new Error(`${label}: give both rows and cols`);
        args[key] = [Number(a), Number(b)];
        if (!args[key].every(Number.isInteger)) throw new Error(`${label}: whole numbers only`);
      } else if (type === "choice") args[key] = $(`ar-${key}`).value;
      else args[key] = $(`ar-${key}`).checked;
    }
    return args;
  }

  function matrixEditor(table, m, onChange, name) {
    table.innerHTML = "";
    m.forEach((row, r) => {
      const tr = el("tr");
      row.forEach((v, c) => {
        const inp = el("input", { type: "number", step: "any", value: v, "aria-label": `${name} row ${r} col ${c}` });
        inp.addEventListener("input", () => {
          if (inp.value.trim() === "" || !Number.isFinite(Number(inp.value))) { inp.setAttribute("aria-invalid", "true"); return; }
          inp.removeAttribute("aria-invalid"); m[r][c] = Number(inp.value); onChange();
        });
        tr.append(el("td", {}, inp));
      });
      table.append(tr);
    });
  }

  function resize(m, h, w, fill) {
    const out = [];
    for (let r = 0; r < h; r++) { out.push([]); for (let c = 0; c < w; c++) out[r].push(m[r] && m[r][c] !== undefined ? m[r][c] : fill(r, c)); }
    return out;
  }

  function syncEditors() {
    const h = Number($("ar-rows").value), w = Number($("ar-cols").value);
    if (!(Number.isInteger(h) && Number.isInteger(w) && h >= 1 && w >= 1 && h <= 16 && w <= 16)) {
      throw new Error("input rows and cols: whole numbers from 1 to 16");
    }
    const gen = rng(st.seed * 7919 + 1);
    if (st.grid.length !== h || st.grid[0].length !== w) {  // rebuilt only on a new size: typing keeps focus
      st.grid = resize(st.grid, h, w, () => Math.floor(gen() * 10));
      matrixEditor($("ar-grid"), st.grid, schedule, "input");
    }
    const conv = CONV.includes(st.kind);
    $("ar-kernel-fig").hidden = !conv;
    if (conv) {
      const k = [Number($("ar-kernel_size-0").value), Number($("ar-kernel_size-1").value)];
      if (k.every(v => Number.isInteger(v) && v >= 1 && v <= 7) && (st.kernel.length !== k[0] || st.kernel[0].length !== k[1])) {
        const base = [[0, 1, 2], [2, 2, 0], [0, 1, 2]];  // the kernel of Dumoulin & Visin's figures
        st.kernel = resize(st.kernel, k[0], k[1], (r, c) => (base[r % 3][c % 3]));
        matrixEditor($("ar-kernel"), st.kernel, schedule, "kernel");
      }
    }
    $("ar-grid-cap").textContent = st.kind === "MaxUnpool2D" ? "encoder map, max-pooled for its switches (editable)" : "input values (editable)";
  }

  function showKind() {
    document.querySelectorAll("#ar-controls .field").forEach(f => { f.hidden = !f.dataset.kinds.split(" ").includes(st.kind); });
  }

  function chooseKind(kind) {
    st.kind = kind;
    const p = PRESETS[kind];
    $("ar-rows").value = p.grid[0]; $("ar-cols").value = p.grid[1];
    setArgs(p.args);
    showKind();
    schedule();
  }

  // ---- the URL (LAB.saveState): layer, sizes, arguments as typed, values, weights, bias and the step ----
  function stateOf() {
    const s = { layer: st.kind, rows: $("ar-rows").value.trim(), cols: $("ar-cols").value.trim(), step: st.step || undefined };
    for (const [key, , type, kinds] of FIELDS) {
      if (!kinds.includes(st.kind)) continue;
      if (type === "pair") s[key] = $(`ar-${key}-0`).value.trim() + "," + $(`ar-${key}-1`).value.trim();
      else if (type === "choice") s[key] = $(`ar-${key}`).value;
      else s[key] = $(`ar-${key}`).checked ? "1" : "0";
    }
    if (st.grid.length) s.grid = LAB.packMatrix(st.grid);
    if (CONV.includes(st.kind)) { s.bias = $("ar-bias").value.trim(); if (st.kernel.length) s.kernel = LAB.packMatrix(st.kernel); }
    if (st.seed !== 1) s.seed = st.seed;
    return s;
  }
  function saveState() { LAB.saveState("arith", stateOf()); }

  function restore(s) {
    if (!KINDS.includes(s.layer)) return false;
    $("ar-kind").value = s.layer;
    chooseKind(s.layer);  // the preset first: what the link leaves out keeps its default
    if (s.rows !== undefined) $("ar-rows").value = s.rows;
    if (s.cols !== undefined) $("ar-cols").value = s.cols;
    for (const [key, , type, kinds] of FIELDS) {
      if (!kinds.includes(st.kind) || s[key] === undefined) continue;
      if (type === "pair") {
        const [a, b] = s[key].split(",");
        $(`ar-${key}-0`).value = a || ""; $(`ar-${key}-1`).value = b || "";
      } else if (type === "choice") LAB.setChoice($(`ar-${key}`), s[key]);
      else $(`ar-${key}`).checked = s[key] !== "0";
    }
    if (s.bias !== undefined) $("ar-bias").value = s.bias;
    const seed = Number(s.seed);
    st.seed = Number.isInteger(seed) && seed >= 1 ? seed : 1;
    const grid = LAB.unpackMatrix(s.grid, Number($("ar-rows").value), Number($("ar-cols").value));
    st.grid = grid || [];
    if (grid) matrixEditor($("ar-grid"), st.grid, schedule, "input");
    const kernel = LAB.unpackMatrix(s.kernel, Number($("ar-kernel_size-0").value), Number($("ar-kernel_size-1").value));
    if (kernel && CONV.includes(st.kind)) { st.kernel = kernel; matrixEditor($("ar-kernel"), st.kernel, schedule, "kernel"); }
    const step = Number(s.step);
    st.wantStep = Number.isInteger(step) && step > 0 ? step : 0;
    return true;
  }

  const schedule = LAB.debounce(() => update(), 200);

  async function update() {
    saveState();
    let body;
    try {
      syncEditors();
      body = { layer: st.kind, args: readArgs(), grid: st.grid };
      if (CONV.includes(st.kind)) {
        body.kernel = st.kernel;
        const b = $("ar-bias").value.trim();
        if (b === "" || !Number.isFinite(Number(b))) throw new Error("bias value: a number");
        body.bias = Number(b);
      }
    } catch (err) { LAB.showError($("ar-error"), err.message); markStale(true); return; }
    const mine = ++st.reqNo;
    try {
      const res = await LAB.api("/api/arith", body);
      if (mine !== st.reqNo) return;
      LAB.showError($("ar-error"), null);
      markStale(false);
      st.res = res;
      stop();
      st.step = st.wantStep || 0;  // a restored link's step, once
      st.wantStep = 0;
      renderFormulas(res);
      render();
    } catch (err) {
      if (mine !== st.reqNo) return;
      LAB.showError($("ar-error"), err.message); markStale(true);
    }
  }

  function markStale(stale) { $("ar-stage").classList.toggle("stale", stale); $("ar-stage").setAttribute("aria-busy", stale ? "true" : "false"); }

  // ---- formulas ---------------------------------------------------------------------------------------
  function renderFormulas(res) {
    const box = $("ar-formulas");
    box.innerHTML = "";
    const f = res.formulas.unpool ? res.formulas.unpool : res.formulas;
    const add = (name, part) => box.append(el("div", {}, el("b", { text: name + ": " }),
      el("span", { class: "sym", text: part.symbolic }), " → ", el("code", { text: part.text })));
    add("output rows H′", f.output[1]); add("output cols W′", f.output[2]);
    for (const p of res.formulas.padding || []) {
      box.append(el("div", {}, el("b", { text: `'same' padding ${p.axis}: ` }), "P = ", el("code", { text: p.total.text }),
        `; before ${p.before.value}, after ${p.after.value}` + (p.before.value !== p.after.value ? " (TensorFlow puts the odd pixel after: bottom/right)" : "")));
    }
    if (CONV.includes(res.layer)) { add("parameters", f.params); add("MACs", f.macs); }
  }

  // ---- drawing ----------------------------------------------------------------------------------------
  function total() { return st.res ? st.res.steps.length + (st.res.crop ? 1 : 0) : 0; }

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
    const [h, w] = res.input_shape.slice(1);
    let r0 = 0, r1 = h - 1, c0 = 0, c1 = w - 1;
    for (const stp of res.steps) for (const t of stp.taps) { r0 = Math.min(r0, t[0]); r1 = Math.max(r1, t[0]); c0 = Math.min(c0, t[1]); c1 = Math.max(c1, t[1]); }
    const taps = new Map(s.taps.map(t => [key(t[0], t[1]), t]));
    const best = s.best ? key(...s.best) : null;
    const input = plane("ar-input", `input ${h}×${w}` + (r0 < 0 || c0 < 0 || r1 >= h || c1 >= w ? " with padding (dashed)" : ""), r0, r1, c0, c1, (r, c) => {
      const inside = r >= 0 && c >= 0 && r < h && c < w, t = taps.get(key(r, c));
      const o = { cls: inside ? "in" : "pad", text: inside ? fmt(res.input[r][c]) : res.op === "dot" ? "0" : res.op === "max" ? "−∞" : "" };
      if (t) { o.hl = best === key(r, c) ? "best" : "win"; if (t[3] !== null && res.op === "dot") o.sub = "×" + fmt(t[3]); }
      return o;
    }, `input grid ${h} by ${w}; the window of step ${i + 1} covers ${s.taps.length} cells`);
    const [oh, ow] = res.output_shape.slice(1);
    const shown = [];
    const output = plane("ar-output", `output ${oh}×${ow}`, 0, oh - 1, 0, ow - 1, (r, c) => {
      const k = r * ow + c, done = k <= i;
      return { cls: done ? "out" : "todo", text: done ? fmt(res.steps[k].value) : "", hl: k === i ? "cur" : null };
    }, `output grid ${oh} by ${ow}, ${Math.min(i + 1, oh * ow)} cells computed`);
    for (let r = 0; r < oh; r++) { shown.push([]); for (let c = 0; c < ow; c++) shown[r].push(r * ow + c <= i ? res.steps[r * ow + c].value : null); }
    output.querySelector("svg").dataset.values = JSON.stringify(shown);
    return { planes: [input, output], text: gatherText(res, s) };
  }

  function gatherText(res, s) {
    const [r, c] = s.out, real = s.taps.filter(t => t[2] !== null);
    const head = `out[${r}, ${c}] = `;
    if (res.op === "max") {
      const pads = s.taps.length - real.length;
      return head + `max(${real.map(t => fmt(t[2])).join(", ")}) = ${fmt(s.value)}` +
        (pads ? `   (${pads} padding cell${pads > 1 ? "s" : ""} never win${pads > 1 ? "" : "s"})` : "") + `; the max is at (${s.best.join(", ")})`;
    }
    if (res.op === "mean") {
      return head + `(${real.map(t => fmt(t[2])).join(" + ")}) / ${real.length} = ${fmt(s.value)}` +
        (real.length < s.taps.length ? "   (the mean of the real cells only: padding is not counted)" : "");
    }
    const terms = s.taps.map(t => t[2] === null ? `0·${par(t[3])}` : `${par(t[2])}·${par(t[3])}`);
    const bias = res.bias ? ` + ${par(res.bias)} (bias)` : "";
    return head + terms.join(" + ") + bias + ` = ${fmt(s.value)}` + (s.taps.some(t => t[2] === null) ? "   (0: padding)" : "");
  }

  function renderScatter(res, i) {
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
    const last = i >= total() - 1;
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

  function render(announce) {
    const res = st.res;
    if (!res) return;
    const n = total();
    st.step = Math.max(0, Math.min(st.step, n - 1));
    const out = res.mode === "gather" ? renderGather(res, st.step) : renderScatter(res, st.step);
    $("ar-planes").replaceChildren(...out.planes);
    $("ar-equation").textContent = out.text;
    const label = res.crop && st.step === n - 1 ? "crop" : res.mode === "gather" ? "output position" : "input pixel";
    $("ar-counter").textContent = `step ${st.step + 1} of ${n} (${label})`;
    $("ar-stage").dataset.step = st.step; $("ar-stage").dataset.total = n; $("ar-stage").dataset.layer = res.layer;
    $("ar-prev").disabled = $("ar-first").disabled = st.step === 0;
    $("ar-next").disabled = $("ar-last").disabled = st.step === n - 1;
    if (announce) $("ar-live").textContent = `step ${st.step + 1} of ${n}: ${out.text}`;
    saveState();
  }

  // ---- playback ---------------------------------------------------------------------------------------
  function go(step, announce = true) { st.step = step; render(announce); }
  function stop() {
    if (st.timer) clearInterval(st.timer);
    st.timer = null;
    $("ar-play").textContent = "▶ play"; $("ar-play").setAttribute("aria-label", "play");
  }
  function play() {
    if (st.timer) { stop(); $("ar-live").textContent = `paused at step ${st.step + 1} of ${total()}`; return; }
    if (st.step >= total() - 1) st.step = 0;
    $("ar-play").textContent = "❚❚ pause"; $("ar-play").setAttribute("aria-label", "pause");
    st.timer = setInterval(() => {
      if (st.step >= total() - 1) { stop(); render(true); return; }
      go(st.step + 1, false);
    }, 1000 / Number($("ar-speed").value));
  }

  function onKey(ev) {
    const k = ev.key;
    const act = { ArrowRight: () => go(st.step + 1), ArrowDown: () => go(st.step + 1), ArrowLeft: () => go(st.step - 1),
      ArrowUp: () => go(st.step - 1), Home: () => go(0), End: () => go(total() - 1), " ": play }[k];
    if (!act || !st.res) return;
    ev.preventDefault();
    if (k !== " ") stop();
    act();
  }

  LAB.panels.arith = {
    state: stateOf,
    show(s) { stop(); restore(s); },
    activate(state) {
      buildPanel();
      $("ar-kind").addEventListener("change", e => chooseKind(e.target.value));
      $("ar-controls").addEventListener("input", e => { if (e.target.id !== "ar-kind") schedule(); });
      $("ar-controls").addEventListener("change", e => { if (e.target.tagName === "SELECT" && e.target.id !== "ar-kind") schedule(); });
      $("ar-random").addEventListener("click", () => { st.seed += 1; st.grid = []; schedule(); });
      $("ar-first").addEventListener("click", () => { stop(); go(0); });
      $("ar-prev").addEventListener("click", () => { stop(); go(st.step - 1); });
      $("ar-next").addEventListener("click", () => { stop(); go(st.step + 1); });
      $("ar-last").addEventListener("click", () => { stop(); go(total() - 1); });
      $("ar-play").addEventListener("click", play);
      $("ar-speed").addEventListener("input", e => {
        e.target.setAttribute("aria-valuetext", `${e.target.value} steps per second`);
        if (st.timer) { stop(); play(); }
      });
      $("ar-stage").addEventListener("keydown", onKey);
      if (!restore(state || {})) chooseKind("Conv2D");
    },
  };
})();
