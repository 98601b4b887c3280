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
  // channel 0's input and kernel are st.grid, st.kernel; a Conv2D's further channels are st.more[c - 1]
  const st = { kind: "Conv2D", grid: [], kernel: [], more: [], res: null, step: 0, timer: null, seed: 1, reqNo: 0, wantStep: 0 };

  const { el } = LAB.arithDraw;  // arith_draw.js draws the answer
  function rng(seed) {  // small deterministic generator for the "new values" button
    let s = seed >>> 0 || 1;
    return () => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return ((s >>> 0) % 1000) / 1000; };
  }

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
      el("label", { class: "field", "data-kinds": "Conv2D" }, "input channels",
        el("input", { id: "ar-channels", type: "number", min: 1, max: 4, value: 1 })),
      el("label", { class: "field", "data-kinds": CONV.join(" ") }, "bias value",
        el("input", { id: "ar-bias", type: "number", step: "any", value: 0 })),
      el("button", { id: "ar-random", type: "button", text: "new values" }));
    const editors = el("div", { class: "row ar-editors", id: "ar-editors" },
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
    syncChannels(h, w);
  }

  // Conv2D with several input channels: an input grid and a kernel slice per channel, each editable
  function channels() {
    if (st.kind !== "Conv2D") return 1;
    const c = Number($("ar-channels").value);
    if (!(Number.isInteger(c) && c >= 1 && c <= 4)) throw new Error("input channels: a whole number from 1 to 4");
    return c;
  }

  function syncChannels(h, w) {
    const C = channels(), k = [Number($("ar-kernel_size-0").value), Number($("ar-kernel_size-1").value)];
    const okK = k.every(v => Number.isInteger(v) && v >= 1 && v <= 7);
    document.querySelectorAll(".ar-channel").forEach(f => { if (Number(f.dataset.channel) >= C) f.remove(); });
    for (let c = 1; c < C; c++) {
      const gen = rng((st.seed * 7919 + 1) * (c + 1) + 104729 * c);
      const m = st.more[c - 1] || (st.more[c - 1] = { grid: [], kernel: [] });
      const fresh = !document.getElementById(`ar-grid-${c}`);
      if (fresh) $("ar-editors").append(
        el("figure", { class: "ar-channel", "data-channel": c }, el("figcaption", { text: `input channel ${c} (editable)` }),
          el("div", { class: "ar-scroll" }, el("table", { id: `ar-grid-${c}`, class: "grid-input" }))),
        el("figure", { class: "ar-channel", "data-channel": c }, el("figcaption", { text: `kernel slice for channel ${c} (editable)` }),
          el("div", { class: "ar-scroll" }, el("table", { id: `ar-kernel-${c}`, class: "grid-input" }))));
      if (fresh || m.grid.length !== h || m.grid[0].length !== w) {
        m.grid = resize(m.grid, h, w, () => Math.floor(gen() * 10));
        matrixEditor($(`ar-grid-${c}`), m.grid, schedule, `channel ${c} input`);
      }
      if (okK && (fresh || m.kernel.length !== k[0] || m.kernel[0].length !== k[1])) {
        m.kernel = resize(m.kernel, k[0], k[1], () => Math.floor(gen() * 4) - 1);
        matrixEditor($(`ar-kernel-${c}`), m.kernel, schedule, `channel ${c} kernel`);
      }
    }
    $("ar-grid-cap").textContent = C > 1 ? "input channel 0 (editable)" : $("ar-grid-cap").textContent;
    $("ar-kernel-fig").querySelector("figcaption").textContent = C > 1 ? "kernel slice for channel 0 (editable)" : "kernel weights (editable)";
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
    if (st.kind === "Conv2D" && $("ar-channels").value.trim() !== "1") {
      s.channels = $("ar-channels").value.trim();
      st.more.forEach((m, i) => { if (i + 1 < Number(s.channels) && m.grid.length) { s[`grid${i + 1}`] = LAB.packMatrix(m.grid); s[`kernel${i + 1}`] = LAB.packMatrix(m.kernel); } });
    }
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
    $("ar-channels").value = st.kind === "Conv2D" && s.channels !== undefined ? s.channels : 1;
    document.querySelectorAll(".ar-channel").forEach(f => f.remove());
    st.more = [];
    for (let c = 1; c < 4; c++) {
      const [h, w] = [Number($("ar-rows").value), Number($("ar-cols").value)];
      const [kh, kw] = [Number($("ar-kernel_size-0").value), Number($("ar-kernel_size-1").value)];
      const g = LAB.unpackMatrix(s[`grid${c}`], h, w), k = LAB.unpackMatrix(s[`kernel${c}`], kh, kw);
      st.more[c - 1] = { grid: g || [], kernel: k || [] };
    }
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
      const C = channels();
      if (CONV.includes(st.kind)) {
        body.kernel = st.kernel;
        if (C > 1) { body.grid = [st.grid, ...st.more.slice(0, C - 1).map(m => m.grid)]; body.kernel = [st.kernel, ...st.more.slice(0, C - 1).map(m => m.kernel)]; }
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


  function render(announce) {
    const res = st.res;
    if (!res) return;
    const n = total();
    st.step = Math.max(0, Math.min(st.step, n - 1));
    const out = res.mode === "gather" ? LAB.arithDraw.gather(res, st.step) : LAB.arithDraw.scatter(res, st.step, n);
    $("ar-planes").replaceChildren(...out.planes);
    $("ar-equation").textContent = out.text;
    const label = res.crop && st.step === n - 1 ? "crop" : res.mode === "gather" ? "output position" : "input pixel";
    $("ar-counter").textContent = `step ${st.step + 1} of ${n} (${label})`;
    $("ar-stage").dataset.step = st.step; $("ar-stage").dataset.total = n; $("ar-stage").dataset.layer = res.layer;
    $("ar-stage").dataset.channels = res.channels || 1;
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
      $("ar-random").addEventListener("click", () => { st.seed += 1; st.grid = []; st.more.forEach(m => { m.grid = []; }); schedule(); });
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
