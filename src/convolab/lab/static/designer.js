// Model designer: zoo models, live summary table, exact receptive field of a hovered output pixel.
"use strict";

(() => {
  const $ = id => document.getElementById(id);
  let analysis = null;      // last good /api/analyze answer
  let selected = -1;        // index of the layer whose output grid is shown
  let requestNo = 0;        // answers to older requests are dropped
  let pixel = null;         // [row, col] of the chosen output pixel (hover or arrow keys)

  function rfText(rf) {
    if (!rf) return "-";
    return `${rf.h.max}x${rf.w.max}`;
  }

  function renderTable() {
    const body = $("summary-table").tBodies[0];
    body.innerHTML = "";
    analysis.layers.forEach((L, i) => {
      const tr = document.createElement("tr");
      tr.dataset.index = i;
      tr.dataset.layer = L.name;
      const cells = [L.name, L.type, "(" + L.output_shape.join(", ") + ")", LAB.int(L.params), LAB.int(L.macs), rfText(L.receptive_field)];
      for (const text of cells) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); }
      tr.classList.toggle("selected", i === selected);
      tr.tabIndex = 0;  // keyboard: Tab to a row, Enter picks it
      tr.addEventListener("click", () => select(i));
      tr.addEventListener("keydown", ev => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); select(i); } });
      body.appendChild(tr);
    });
    requestAnimationFrame(scrollHint);
    $("summary-table").tFoot.innerHTML =
      `<tr><td>total</td><td></td><td>input (${analysis.input_shape.join(", ")})</td>` +
      `<td id="total-params">${LAB.int(analysis.total_params)}</td><td id="total-macs">${LAB.int(analysis.total_macs)}</td><td></td></tr>`;
  }

  // a narrow screen: say that columns are out of view to the right, until the table is scrolled there
  function scrollHint() {
    const box = $("summary-table").parentElement, more = box.scrollLeft + box.clientWidth < box.scrollWidth - 2;
    $("summary-hint").hidden = !more;
    box.classList.toggle("more", more);
  }

  function drawGrids(highlight, cellOut) {
    const shape = analysis.input_shape;
    const inCanvas = $("rf-input"), outCanvas = $("rf-output");
    const L = analysis.layers[selected];
    if (shape.length !== 3) {  // a flat input: no grids at all (the previous model's must not stay)
      for (const c of [inCanvas, outCanvas]) { c.width = c.height = 1; delete c.dataset.highlight; }
      $("rf-input-shape").textContent = `(${shape.join(", ")}) is not an image`;
      $("rf-output-shape").textContent = "";
      $("rf-layer-name").textContent = L ? L.name : "?";
      $("rf-info").textContent = "receptive fields are shown for image inputs (C, H, W)";
      return;
    }
    const [, H, W] = shape;
    $("rf-input-shape").textContent = `${H}x${W}`;
    const cellIn = gridCanvas(inCanvas, H, W);
    if (highlight) {
      const ctx = inCanvas.getContext("2d");
      const [r0, r1, c0, c1] = highlight;
      ctx.fillStyle = "rgba(245,158,11,0.55)";
      ctx.fillRect(c0 * cellIn, r0 * cellIn, (c1 - c0 + 1) * cellIn, (r1 - r0 + 1) * cellIn);
      ctx.strokeStyle = "#b45309"; ctx.lineWidth = 2;
      ctx.strokeRect(c0 * cellIn + 1, r0 * cellIn + 1, (c1 - c0 + 1) * cellIn - 2, (r1 - r0 + 1) * cellIn - 2);
      inCanvas.dataset.highlight = highlight.join(",");
    } else {
      delete inCanvas.dataset.highlight;
    }
    if (!L) return;
    $("rf-layer-name").textContent = L.name;
    if (!L.fields) {
      $("rf-output-shape").textContent = "(not a feature map)";
      outCanvas.width = outCanvas.height = 1;
      return;
    }
    const [, h, w] = L.output_shape;
    $("rf-output-shape").textContent = `${h}x${w}`;
    const cell = gridCanvas(outCanvas, h, w);
    if (cellOut) {
      const ctx = outCanvas.getContext("2d");
      ctx.fillStyle = "rgba(37,99,235,0.7)";
      ctx.fillRect(cellOut[1] * cell, cellOut[0] * cell, cell, cell);
    }
  }

  const { gridCanvas } = LAB.views;  // views.js (shared with the notebook widgets)

  function select(i) {
    selected = i;
    document.querySelectorAll("#summary-table tbody tr").forEach(tr => {
      const on = Number(tr.dataset.index) === i;
      tr.classList.toggle("selected", on);
      tr.setAttribute("aria-selected", on ? "true" : "false");
    });
    $("rf-info").innerHTML = "&nbsp;";
    pixel = null;
    drawGrids(null, null);
    document.dispatchEvent(new CustomEvent("lab:layer-selected", { detail: { index: i } }));  // designer_form.js
    saveState();
  }

  function stateOf() {
    const zoo = $("zoo-select").value;
    const L = analysis && analysis.layers[selected];
    return { zoo: zoo || undefined, spec: zoo ? undefined : $("spec-text").value,
      layer: L ? L.name : undefined, pixel: pixel ? pixel.join(",") : undefined };
  }
  function saveState() { LAB.saveState("designer", stateOf()); }

  // The pointer's cell: offsetX is measured from the canvas's padding box, whose width is clientWidth
  // (the border-box width from getBoundingClientRect would put the edges one cell off).
  function onHover(ev) {
    const L = analysis && analysis.layers[selected];
    if (!L || !L.fields) return;
    const canvas = $("rf-output"), cell = Number(canvas.dataset.cell);
    const x = Math.floor(ev.offsetX * (canvas.width / canvas.clientWidth) / cell);
    const y = Math.floor(ev.offsetY * (canvas.height / canvas.clientHeight) / cell);
    choose(y, x);
  }

  function onLeave() {
    if (!analysis) return;
    pixel = null;
    $("rf-info").innerHTML = "&nbsp;";
    drawGrids(null, null);
    saveState();
  }

  function onKey(ev) {
    const L = analysis && analysis.layers[selected];
    const step = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[ev.key];
    if (!L || !L.fields || !step) return;
    ev.preventDefault();
    const [, h, w] = L.output_shape;
    const [y, x] = pixel || [0, 0];
    choose(pixel ? Math.max(0, Math.min(h - 1, y + step[0])) : 0, pixel ? Math.max(0, Math.min(w - 1, x + step[1])) : 0);
  }

  function choose(y, x) {
    const L = analysis.layers[selected];
    const [, h, w] = L.output_shape;
    if (y < 0 || x < 0 || y >= h || x >= w) return;
    pixel = [y, x];
    saveState();
    const F = L.fields, r0 = F.rows.lo[y], r1 = F.rows.hi[y], c0 = F.cols.lo[x], c1 = F.cols.hi[x];
    if (r0 < 0 || c0 < 0) {
      $("rf-info").textContent = `${L.name} (${y}, ${x}) sees no input pixel (a structural zero)`;
      drawGrids(null, [y, x]);
      return;
    }
    $("rf-info").textContent =
      `${L.name} (${y}, ${x}) sees input rows ${r0}-${r1}, cols ${c0}-${c1} (${r1 - r0 + 1}x${c1 - c0 + 1} pixels)`;
    drawGrids([r0, r1, c0, c1], [y, x]);
  }

  async function analyze(want) {
    const mine = ++requestNo;
    const text = $("spec-text").value;
    LAB.status("analysing...");
    try {
      const result = await LAB.api("/api/analyze", { spec: text });
      if (mine !== requestNo) return;
      analysis = result;
      LAB.showError($("spec-error"), null);
      LAB.markStale($("designer-results"), false);
      const wanted = want && want.layer ? analysis.layers.findIndex(L => L.name === want.layer) : -1;
      if (wanted >= 0) selected = wanted;
      else if (selected < 0 || selected >= analysis.layers.length) {
        selected = Math.max(0, analysis.layers.findIndex(L => L.fields));
      }
      renderTable();
      document.dispatchEvent(new CustomEvent("lab:analyzed", { detail: { text, analysis } }));  // designer_form.js
      select(selected);
      if (want && want.pixel) { const [y, x] = want.pixel.split(",").map(Number); if (analysis.layers[selected].fields) choose(y, x); }
      LAB.status("");
    } catch (err) {
      if (mine !== requestNo) return;
      LAB.showError($("spec-error"), err.message);
      LAB.markStale($("designer-results"), true);  // the table is the last good one, not this text's
      LAB.status("");
    }
  }

  async function loadZooModel(name, want) {
    if (!name) return;
    try {
      const data = await LAB.api("/api/zoo/" + encodeURIComponent(name));
      $("spec-text").value = data.yaml;
      selected = -1;
      await analyze(want);
    } catch (err) { LAB.showError($("spec-error"), err.message); }
  }

  function restore(state) {
    if (state.spec) { $("zoo-select").value = ""; $("spec-text").value = state.spec; selected = -1; return analyze(state); }
    if (state.zoo) { $("zoo-select").value = state.zoo; return loadZooModel(state.zoo, state); }
    return null;
  }

  LAB.panels.designer = {
    state: stateOf,
    show(state) { restore(state); },
    async activate(state) {
      $("summary-table").parentElement.addEventListener("scroll", scrollHint);
      window.addEventListener("resize", scrollHint);
      const debounced = LAB.debounce(() => analyze(), 250);
      $("spec-text").addEventListener("input", () => { $("zoo-select").value = ""; debounced(); });
      $("zoo-select").addEventListener("change", e => loadZooModel(e.target.value));
      $("rf-output").addEventListener("mousemove", onHover);
      $("rf-output").addEventListener("mouseleave", onLeave);
      $("rf-output").addEventListener("keydown", onKey);
      try {
        const zoo = await LAB.api("/api/zoo");
        for (const m of zoo.models) {
          const opt = document.createElement("option");
          opt.value = m.name; opt.textContent = m.name; opt.title = m.description;
          $("zoo-select").appendChild(opt);
        }
        if (state && (state.spec || state.zoo)) { await restore(state); return; }
        const first = zoo.models.length ? zoo.models[0].name : "";
        $("zoo-select").value = first;
        await loadZooModel(first);
      } catch (err) { LAB.showError($("spec-error"), err.message); }
    },
  };
})();
