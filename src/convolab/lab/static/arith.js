// Conv arithmetic: one small layer of any configuration, animated step by step from the server's trace.
// The server runs the real convolab layer and writes out every step (window cells, padding, weights,
// products, sums; or each input pixel's stamp); this file only draws what it answers, so the animation
// cannot disagree with the library. Colours follow conv_arithmetic: blue input, cyan output.
"use strict";

(() => {
  const $ = id => document.getElementById(id);
  // channel 0's input and kernel are st.grid, st.kernel; a Conv2D's further channels are st.more[c - 1]
  const st = { kind: "Conv2D", grid: [], kernel: [], more: [], res: null, step: 0, timer: null, seed: 1, reqNo: 0, wantStep: 0 };

  const { el } = LAB.arithDraw;  // arith_draw.js draws the answer
  const { CONV, KINDS, FIELDS, PRESETS, buildPanel, setArgs, readArgs } = LAB.arithForm;  // arith_form.js
  function rng(seed) {  // small deterministic generator for the "new values" button
    let s = seed >>> 0 || 1;
    return () => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return ((s >>> 0) % 1000) / 1000; };
  }

  // ---- the editors of the input values and kernel weights ---------------------------------------------
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
      body = { layer: st.kind, args: readArgs(st.kind), grid: st.grid };
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
