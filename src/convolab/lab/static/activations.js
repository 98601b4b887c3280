// Activations: every layer's real output for one input, one tile per channel; hover a pixel to see its
// exact receptive field on the input and the kernel slice, window and bias that made it.
"use strict";

(() => {
  const $ = id => document.getElementById(id);
  const N = 28;                 // drawing resolution (the server resizes to the model's input)
  let drawing = null, upload = null, result = null, requestNo = 0;
  let focus = null;             // {layer, channel, row, col} of the enlarged / hovered pixel
  let detailNo = 0;
  let lastBody = null;          // the last request's model and input (the URL's state)
  let wantSel = null;           // [layer, channel, row, col] from a link, shown once its answer arrives
  let marked = [];              // tiles drawn with a marker or a field (repainted plain when it moves)
  let pre = null;               // {layer, channel, values} of the enlarged channel before its activation

  const { floats, legend } = LAB.views;  // views.js (shared with the notebook widgets)
  const { paint, drawCells, tilePixel, showDetail } = LAB.activationsDraw;  // activations_draw.js draws
  const drawInput = field => LAB.activationsDraw.drawInput($("act-input"), $("act-input-caption"), result, field);

  function repaintTile(cv, over) {
    const L = result.layers[Number(cv.dataset.layer)], c = Number(cv.dataset.channel);
    const [h, w] = L.shape.length === 3 ? [L.shape[1], L.shape[2]] : [1, L.values.length];
    paint(cv, L.values, c * h * w, h, w, L, over);
  }

  function tilesOf(layer) { return [...document.querySelectorAll(`#act-layers canvas.tile[data-layer="${layer}"]`)]; }

  // The chosen unit marked on its tile, and its field on every map of the layer before (prevField).
  function markTiles(f, prevField) {
    for (const cv of marked) repaintTile(cv, {});
    marked = [];
    if (!f || f.hoverOnly) return;
    const own = tilesOf(f.layer).find(cv => Number(cv.dataset.channel) === f.channel);
    if (own && result.layers[f.layer].shape.length === 3) { repaintTile(own, { unit: [f.row, f.col] }); marked.push(own); }
    if (prevField && f.layer > 0) for (const cv of tilesOf(f.layer - 1)) { repaintTile(cv, { field: prevField }); marked.push(cv); }
  }

  // ---- requests -----------------------------------------------------------------------------------
  function modelField() {
    const kind = $("act-model-kind").value;
    const seed = LAB.readInt($("act-seed"), "seed");
    if (kind === "zoo") return { zoo: $("act-zoo").value, seed };
    if (kind === "spec") return { spec: $("act-spec").value, seed };
    if (!$("act-run").value) throw new Error("no trained run under the runs folder");
    return { run: $("act-run").value, checkpoint: $("act-checkpoint").value };
  }

  function inputField() {
    const kind = $("act-input-kind").value;
    if (kind === "draw") return { pixels: drawing };
    if (kind === "upload") {
      if (!upload) throw new Error("choose a PNG or JPEG file to upload");
      return { upload };
    }
    return { dataset: $("act-dataset").value, index: LAB.readInt($("act-index"), "index") };
  }

  async function update() {
    syncControls();
    const mine = ++requestNo;
    const t0 = performance.now();
    let body;
    try { body = { model: modelField(), input: inputField() }; }
    catch (err) { fail(err); return; }
    lastBody = body;
    saveState();
    try {
      const res = await LAB.api("/api/activations", body);
      if (mine !== requestNo) return;
      result = res;
      result.body = body;
      result.inputData = floats(res.input.data);
      for (const L of res.layers) L.values = floats(L.data);
      LAB.showError($("act-error"), null);
      LAB.markStale($("act-view"), false);
      render();
      $("act-view").dataset.ms = (performance.now() - t0).toFixed(1);
      $("act-view").dataset.ready = String(mine);
    } catch (err) { if (mine === requestNo) fail(err); }
  }

  function fail(err) {
    LAB.showError($("act-error"), err.message);
    LAB.markStale($("act-view"), true);
  }

  // ---- drawing the answer -------------------------------------------------------------------------
  function render() {
    marked = [];
    drawInput(null);
    const box = $("act-layers");
    box.replaceChildren();
    result.layers.forEach((L, li) => {
      const row = document.createElement("section");
      row.className = "act-layer" + (L.latent ? " latent" : "");
      row.dataset.layer = L.name;
      const head = document.createElement("h4");
      const shape = "(" + L.shape.join(", ") + ")";
      head.textContent = `${L.name}: ${L.type}${L.activation ? ", " + L.activation : ""} ${shape}` +
        (L.latent ? " - the latent code" : "") +
        (L.channels_shown < L.channels ? ` - first ${L.channels_shown} of ${L.channels} channels shown` : "") + " ";
      head.appendChild(legend(L));
      row.appendChild(head);
      const tiles = document.createElement("div");
      tiles.className = "tiles";
      const spatial = L.shape.length === 3;
      const [h, w] = spatial ? [L.shape[1], L.shape[2]] : [1, L.values.length];
      for (let c = 0; c < L.channels_shown; c++) {
        const cv = document.createElement("canvas");
        cv.className = "tile" + (spatial ? "" : " flat");
        cv.tabIndex = 0;
        cv.dataset.layer = li; cv.dataset.channel = c;
        cv.setAttribute("role", "img");
        cv.setAttribute("aria-label", `${L.name} channel ${c}, ${h}x${w}, values ${LAB.fmt(L.min)} to ${LAB.fmt(L.max)}`);
        paint(cv, L.values, c * h * w, h, w, L);
        cv.addEventListener("mousemove", ev => hoverTile(ev, cv));
        cv.addEventListener("mouseleave", () => { if (!focus || focus.hoverOnly) clearFocus(); });
        cv.addEventListener("click", ev => { const p = tilePixel(ev, cv); enlarge(li, c, p); });
        cv.addEventListener("keydown", ev => {
          if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); enlarge(li, c, [0, 0]); $("act-big").focus(); return; }
          if (!focus || focus.hoverOnly || focus.layer !== li || focus.channel !== c) {  // this tile's unit first
            if (!ev.key.startsWith("Arrow")) return;
            ev.preventDefault(); enlarge(li, c, [0, 0]); return;
          }
          onBigKey(ev);
        });
        tiles.appendChild(cv);
      }
      row.appendChild(tiles);
      box.appendChild(row);
    });
    const keep = wantSel ? { layer: wantSel[0], channel: wantSel[1], row: wantSel[2], col: wantSel[3] }
      : focus && !focus.hoverOnly ? focus : null;
    wantSel = null;
    const L = keep && result.layers[keep.layer];
    if (L) {  // the same pixel of the same channel, clamped to the new map
      const [h, w] = L.shape.length === 3 ? [L.shape[1], L.shape[2]] : [1, L.values.length];
      enlarge(keep.layer, Math.min(keep.channel, L.channels_shown - 1), [Math.min(keep.row, h - 1), Math.min(keep.col, w - 1)]);
    } else { focus = null; $("act-big-figure").hidden = $("act-pre-figure").hidden = true; }  // shown once a channel is clicked
  }

  function hoverTile(ev, canvas) {
    const [row, col] = tilePixel(ev, canvas);
    setFocus({ layer: Number(canvas.dataset.layer), channel: Number(canvas.dataset.channel), row, col, hoverOnly: !focus || focus.hoverOnly });
  }

  function clearFocus() {
    focus = null;
    markTiles(null);
    drawInput(null);
    $("act-detail").textContent = "";
  }

  function setFocus(f) {
    focus = f;
    const L = result.layers[f.layer];
    let field = null, seen = "";
    if (L.fields) {
      const r0 = L.fields.rows.lo[f.row], r1 = L.fields.rows.hi[f.row], c0 = L.fields.cols.lo[f.col], c1 = L.fields.cols.hi[f.col];
      if (r0 >= 0 && c0 >= 0) { field = [r0, r1, c0, c1]; seen = `; sees input rows ${r0}-${r1}, cols ${c0}-${c1}`; }
      else seen = "; sees no input pixel (a structural zero)";
    }
    drawInput(field);
    if (!f.hoverOnly) { drawBig(); saveState(); markTiles(f, null); }
    const spatial = L.shape.length === 3;
    const idx = spatial ? f.channel * L.shape[1] * L.shape[2] + f.row * L.shape[2] + f.col : f.col;
    const where = spatial ? `channel ${f.channel} (${f.row}, ${f.col})` : `unit ${f.col}`;
    $("act-pixel").textContent = `${L.name} ${where} = ${LAB.fmt4(L.values[idx])}${seen}`;
    detail(f);
  }

  const detail = LAB.debounce(async f => {
    const mine = ++detailNo;
    const L = result.layers[f.layer];
    const spatial = L.shape.length === 3;
    const where = spatial ? { layer: f.layer, channel: f.channel, row: f.row, col: f.col } : { layer: f.layer, channel: 0, row: 0, col: f.col };
    try {
      const d = await LAB.api("/api/activations/pixel", { ...result.body, ...where });
      if (mine !== detailNo) return;
      showDetail($("act-detail"), d);
      if (!f.hoverOnly && focus === f) { showPre(d, f); showPrevField(d, f); }
    } catch (err) { if (mine === detailNo) $("act-detail").textContent = err.message; }
  }, 120);

  // the layer before: the field of the chosen unit on each of its maps (the server's exact interval walk)
  function showPrevField(d, f) {
    markTiles(f, d.prev_field);
    if (d.prev_field && f.layer > 0) {
      const [r0, r1, c0, c1] = d.prev_field, prev = result.layers[f.layer - 1].name;
      $("act-pixel").textContent += `; on every map of ${prev} rows ${r0}-${r1}, cols ${c0}-${c1}`;
    }
  }

  // the enlarged channel before its activation (the layer's own output without it), beside the one after
  function showPre(d, f) {
    const fig = $("act-pre-figure"), L = result.layers[f.layer];
    if (!d.pre_map || L.shape.length !== 3) { fig.hidden = true; pre = null; return; }
    const values = floats(d.pre_map), [h, w] = [L.shape[1], L.shape[2]];
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const scale = { signed: lo < 0, min: lo, max: hi };
    drawCells($("act-pre"), values, 0, h, w, scale, Number($("act-big").dataset.cell), [f.row, f.col]);
    fig.hidden = false;
    $("act-pre-caption").replaceChildren(`before ${d.activation}: ${L.name} channel ${f.channel} `, legend(scale));
    pre = { layer: f.layer, channel: f.channel, values: Array.from(values) };
  }

  function enlarge(layer, channel, [row, col]) {
    setFocus({ layer, channel, row, col, hoverOnly: false });
  }

  function drawBig() {
    const f = focus, L = result.layers[f.layer], spatial = L.shape.length === 3;
    const [h, w] = spatial ? [L.shape[1], L.shape[2]] : [1, L.values.length];
    const canvas = $("act-big"), cell = LAB.cellSize(canvas, h, w);
    drawCells(canvas, L.values, f.channel * h * w, h, w, L, cell, [f.row, f.col]);
    canvas.dataset.cell = cell;
    canvas.dataset.layer = f.layer; canvas.dataset.channel = f.channel;
    $("act-big-figure").hidden = false;
    const act = L.activation && L.activation !== "linear" ? `after ${L.activation}: ` : "";
    $("act-big-caption").textContent = `${act}${L.name} channel ${f.channel} (arrow keys move the pixel)`;
    if (!pre || pre.layer !== f.layer || pre.channel !== f.channel) { $("act-pre-figure").hidden = true; pre = null; }
  }

  function bigPixel(ev) {
    const canvas = $("act-big"), cell = Number(canvas.dataset.cell);
    return [Math.floor(ev.offsetY * canvas.height / canvas.clientHeight / cell), Math.floor(ev.offsetX * canvas.width / canvas.clientWidth / cell)];
  }

  function onBigKey(ev) {
    if (!focus || focus.hoverOnly) return;
    const L = result.layers[focus.layer], spatial = L.shape.length === 3;
    const [h, w] = spatial ? [L.shape[1], L.shape[2]] : [1, L.values.length];
    const step = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[ev.key];
    if (!step) return;
    ev.preventDefault();
    const row = Math.max(0, Math.min(h - 1, focus.row + step[0])), col = Math.max(0, Math.min(w - 1, focus.col + step[1]));
    setFocus({ ...focus, row, col, hoverOnly: false });
  }

  // ---- controls -----------------------------------------------------------------------------------
  function syncControls() {
    const model = $("act-model-kind").value, input = $("act-input-kind").value;
    document.querySelectorAll(".act-zoo").forEach(el => { el.hidden = model !== "zoo"; });
    document.querySelectorAll(".act-spec").forEach(el => { el.hidden = model !== "spec"; });
    document.querySelectorAll(".act-run").forEach(el => { el.hidden = model !== "run"; });
    document.querySelectorAll(".act-seed").forEach(el => { el.hidden = model === "run"; });
    document.querySelectorAll(".act-in-dataset").forEach(el => { el.hidden = input !== "dataset"; });
    document.querySelectorAll(".act-in-upload").forEach(el => { el.hidden = input !== "upload"; });
    document.querySelectorAll(".act-in-draw").forEach(el => { el.hidden = input !== "draw"; });
    $("act-view").classList.toggle("drawing", input === "draw");  // a phone keeps the drawing canvas full size
  }

  function saveState() { if (lastBody) LAB.saveState("activations", stateOf(lastBody)); }

  function stateOf(body) {
    const s = {};
    if (focus && !focus.hoverOnly) s.sel = [focus.layer, focus.channel, focus.row, focus.col].join(",");
    if (body.model.zoo) s.zoo = body.model.zoo;
    if (body.model.spec) s.spec = body.model.spec;
    if (body.model.run) { s.run = body.model.run; s.checkpoint = body.model.checkpoint; }
    if (body.model.seed) s.seed = body.model.seed;
    if (body.input.dataset) { s.dataset = body.input.dataset; s.index = body.input.index; }
    else s.input = $("act-input-kind").value;
    return s;
  }

  function restore(s) {
    if (s.spec) { $("act-model-kind").value = "spec"; $("act-spec").value = s.spec; }
    else if (s.run) { $("act-model-kind").value = "run"; $("act-run").value = s.run; if (s.checkpoint) $("act-checkpoint").value = s.checkpoint; }
    else if (s.zoo) { $("act-model-kind").value = "zoo"; $("act-zoo").value = s.zoo; }
    if (s.seed) $("act-seed").value = s.seed;
    if (s.dataset) { $("act-input-kind").value = "dataset"; $("act-dataset").value = s.dataset; $("act-index").value = s.index || 0; }
    else if (s.input === "draw") $("act-input-kind").value = "draw";
    const sel = (s.sel || "").split(",").map(Number);
    wantSel = sel.length === 4 && sel.every(v => Number.isInteger(v) && v >= 0) ? sel : null;
  }

  function setupDrawing() {
    drawing = Array.from({ length: N }, () => new Array(N).fill(0));
    const canvas = $("act-draw");
    LAB.drawMatrix(canvas, drawing, { lo: 0, hi: 1, size: 280 });
    let down = false;
    const later = LAB.debounce(update, 150);
    canvas.addEventListener("pointerdown", ev => { down = true; canvas.setPointerCapture(ev.pointerId); stroke(ev); });
    canvas.addEventListener("pointermove", ev => { if (down) stroke(ev); });
    canvas.addEventListener("pointerup", () => { down = false; update(); });
    function stroke(ev) {
      const x = ev.offsetX / canvas.clientWidth * N, y = ev.offsetY / canvas.clientHeight * N;
      LAB.brush(drawing, x, y);
      LAB.drawMatrix(canvas, drawing, { lo: 0, hi: 1, size: 280 });
      later();
    }
    $("act-clear").addEventListener("click", () => { drawing.forEach(r => r.fill(0)); LAB.drawMatrix(canvas, drawing, { lo: 0, hi: 1, size: 280 }); update(); });
  }

  LAB.panels.activations = {
    async activate(state) {
      setupDrawing();
      const later = LAB.debounce(update, 300);
      for (const id of ["act-model-kind", "act-zoo", "act-run", "act-checkpoint", "act-input-kind", "act-dataset"]) $(id).addEventListener("change", update);
      for (const id of ["act-index", "act-seed", "act-spec"]) $(id).addEventListener("input", later);
      $("act-file").addEventListener("change", () => {
        const file = $("act-file").files[0];
        if (!file) return;
        const reader = new FileReader();
        reader.onload = () => { upload = reader.result; update(); };
        reader.readAsDataURL(file);
      });
      $("act-big").addEventListener("keydown", onBigKey);
      $("act-big").addEventListener("click", ev => { if (focus) setFocus({ ...focus, row: bigPixel(ev)[0], col: bigPixel(ev)[1], hoverOnly: false }); });
      try {
        const [zoo, runs, sets] = await Promise.all([LAB.api("/api/zoo"), LAB.api("/api/runs"), LAB.api("/api/datasets")]);
        $("act-zoo").replaceChildren(...zoo.models.map(m => new Option(m.name, m.name)));
        if (!LAB.datasetSelect($("act-dataset"), sets.datasets)) $("act-input-kind").value = "draw";  // a drawing is always there
        $("act-run").replaceChildren(...runs.runs.map(r => new Option(r.name, r.name)));
        if (!runs.runs.length) $("act-model-kind").querySelector("option[value=run]").disabled = true;
      } catch (err) { fail(err); return; }
      if (!$("act-spec").value) $("act-spec").value = "input_shape: [1, 28, 28]\nlayers:\n- {type: Conv2D, filters: 4, kernel_size: 3, padding: same, activation: relu}\n- {type: MaxPool2D}\n";
      restore(state || {});
      update();
    },
    // called by other panels: open a model here (e.g. a run's spec)
    show(s) { restore(s); update(); },
    state() { return lastBody ? stateOf(lastBody) : {}; },
    // the last answer, decoded (tests compare it with a Python forward pass)
    values() {
      if (!result) return null;
      return { pre, input: Array.from(result.inputData), layers: result.layers.map(L => ({ name: L.name, shape: L.shape, shown: L.channels_shown, values: Array.from(L.values) })) };
    },
  };
})();
