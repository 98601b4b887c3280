// Autoencoder: pick a run, draw a digit, see the reconstruction live; test-set samples; curves.
"use strict";

(() => {
  const $ = id => document.getElementById(id);
  const N = 28;                       // drawing resolution (the canvas is 10x larger)
  let pixels = null;                  // N x N floats in [0, 1]
  let offset = 0, count = 8, total = null;
  let inflight = false, pending = false;
  let specYaml = "";
  let inputHW = [N, N];               // the run's input size: a drawing is resized to it before sending

  function run() { return $("ae-run").value; }
  function checkpoint() { return $("ae-checkpoint").value; }

  function clearDrawing() {
    pixels = Array.from({ length: N }, () => new Array(N).fill(0));
    LAB.drawMatrix($("ae-draw"), pixels, { lo: 0, hi: 1, size: 280 });
    LAB.drawMatrix($("ae-recon"), pixels, { lo: 0, hi: 1, size: 280 });
    delete $("ae-recon").dataset.ready;
  }

  function paint(x, y) { LAB.brush(pixels, x, y); }

  function pointerCell(ev) {  // offsetX is measured from the padding box, whose width is clientWidth
    const canvas = $("ae-draw");
    return [ev.offsetX / canvas.clientWidth * N, ev.offsetY / canvas.clientHeight * N];
  }

  async function reconstruct() {
    if (!run()) return;
    if (inflight) { pending = true; return; }
    inflight = true;
    try {
      const [h, w] = inputHW;
      const sent = h === N && w === N ? pixels : LAB.resizeBilinear(pixels, h, w);
      const res = await LAB.api("/api/run/reconstruct", { run: run(), checkpoint: checkpoint(), pixels: sent });
      LAB.drawMatrix($("ae-recon"), res.reconstruction, { lo: 0, hi: 1, size: 280 });
      $("ae-recon").dataset.ready = "1";
      LAB.showError($("ae-error"), null);
      LAB.markStale($("ae-view"), false);
    } catch (err) { LAB.showError($("ae-error"), err.message); LAB.markStale($("ae-view"), true); }
    inflight = false;
    if (pending) { pending = false; reconstruct(); }
  }

  function setupDrawing() {
    const canvas = $("ae-draw");
    let down = false, last = null;
    canvas.addEventListener("pointerdown", ev => { down = true; last = null; canvas.setPointerCapture(ev.pointerId); stroke(ev); });
    canvas.addEventListener("pointermove", ev => { if (down) stroke(ev); });
    canvas.addEventListener("pointerup", () => { down = false; reconstruct(); });
    function stroke(ev) {
      const [x, y] = pointerCell(ev);
      if (last) {  // fill the gap between two pointer events
        const steps = Math.ceil(Math.hypot(x - last[0], y - last[1]) * 2);
        for (let i = 1; i <= steps; i++) paint(last[0] + (x - last[0]) * i / steps, last[1] + (y - last[1]) * i / steps);
      } else paint(x, y);
      last = [x, y];
      LAB.drawMatrix(canvas, pixels, { lo: 0, hi: 1, size: 280 });
      reconstruct();
    }
    $("ae-clear").addEventListener("click", clearDrawing);
  }

  let curvesData = {}, lossName = "bce";

  // Metrics differ in scale (losses ~0.1, PSNR ~20 dB): the losses share a chart, others get their own.
  function fillMetricChoice() {
    const sel = $("ae-metric"), names = Object.keys(curvesData);
    sel.replaceChildren(new Option("losses", "losses"), ...names.filter(n => !isLoss(n)).map(n => new Option(n, n)));
    sel.value = "losses";
  }
  function isLoss(n) { return n.endsWith("loss") || n === "val_" + lossName; }

  function drawCurves() {
    const choice = $("ae-metric").value || "losses";
    const curves = curvesData;
    const svg = $("ae-curves"), W = 420, H = 280, pad = 36;
    const names = Object.keys(curves).filter(k => curves[k].length && (choice === "losses" ? isLoss(k) : k === choice));
    svg.innerHTML = "";
    if (!names.length) { svg.innerHTML = `<text x="20" y="40" fill="#6b7280">no training curves in this run</text>`; return; }
    const pts = names.flatMap(n => curves[n]);
    const epochs = new Set(pts.map(p => p[0])).size;
    let x0 = Math.min(...pts.map(p => p[0])), x1 = Math.max(...pts.map(p => p[0]), x0 + 1);
    if (epochs === 1) { x0 -= 1; x1 = x0 + 2; }  // one epoch: its points in the middle, not on the axis
    const y0 = Math.min(...pts.map(p => p[1])), y1 = Math.max(...pts.map(p => p[1]), y0 + 1e-9);
    const sx = x => pad + (x - x0) / (x1 - x0) * (W - 2 * pad), sy = y => H - pad - (y - y0) / (y1 - y0) * (H - 2 * pad);
    const colors = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"];
    let svgText = `<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#999"/>` +
      `<line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" stroke="#999"/>` +
      `<text x="${W / 2}" y="${H - 8}" font-size="11" text-anchor="middle" fill="#555">epoch</text>` +
      `<text x="4" y="${pad - 6}" font-size="10" fill="#555">${LAB.fmt(y1)}</text>` +
      `<text x="4" y="${H - pad}" font-size="10" fill="#555">${LAB.fmt(y0)}</text>` +
      `<text x="${pad}" y="${H - pad + 14}" font-size="10" text-anchor="middle" fill="#555">${LAB.fmt(x0)}</text>` +
      `<text x="${W - pad}" y="${H - pad + 14}" font-size="10" text-anchor="middle" fill="#555">${LAB.fmt(x1)}</text>`;
    names.forEach((n, i) => {
      const color = colors[i % colors.length];
      const d = curves[n].map((p, j) => (j ? "L" : "M") + sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join(" ");
      svgText += `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`;
      for (const p of curves[n]) svgText += `<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="${epochs === 1 ? 6 : 4}" fill="${color}" stroke="#fff" stroke-width="1.5"/>`;
      svgText += `<text x="${W - pad - 4}" y="${pad + 14 * i}" font-size="11" text-anchor="end" fill="${color}">${n.replace(/[<>&]/g, "")}</text>`;
    });
    if (epochs === 1) svgText += `<text x="${W / 2}" y="${pad - 12}" font-size="12" text-anchor="middle" fill="#374151">1 epoch: one point per curve</text>`;
    svg.innerHTML = svgText;
  }

  function syncPager() {
    $("ae-prev").disabled = offset <= 0;
    $("ae-next").disabled = total === null || offset + count >= total;  // never past the end
  }

  async function loadSamples() {
    if (!run()) return;
    syncPager();
    LAB.saveState("autoencoder", stateOf());
    try {
      const res = await LAB.api(`/api/run/samples?name=${encodeURIComponent(run())}&checkpoint=${checkpoint()}&offset=${offset}&count=${count}`);
      total = res.total;
      const box = $("ae-samples");
      box.innerHTML = "";
      for (const item of res.items) {
        const fig = document.createElement("figure");
        if (item.seen) fig.className = "seen";
        const a = document.createElement("canvas"), b = document.createElement("canvas");
        LAB.drawMatrix(a, item.input, { lo: 0, hi: 1, cell: 3 });
        LAB.drawMatrix(b, item.output, { lo: 0, hi: 1, cell: 3 });
        const what = item.class || (item.label === null ? "no label" : `label ${item.label}`);
        a.setAttribute("role", "img"); a.setAttribute("aria-label", `test image ${item.index}, ${what}`);
        b.setAttribute("role", "img"); b.setAttribute("aria-label", `its reconstruction`);
        const cap = document.createElement("figcaption");
        cap.textContent = `#${item.index} ${what}` + (item.seen ? " (seen in training)" : "");
        fig.append(cap, a, b);
        box.appendChild(fig);
      }
      $("ae-offset").textContent = `images ${res.offset}-${res.offset + res.items.length - 1} of ${res.total} (${res.dataset} ${res.eval_set}; left: input, right: reconstruction)`;
      LAB.showError($("ae-error"), null);
      LAB.markStale($("ae-samples"), false);
    } catch (err) {
      LAB.showError($("ae-error"), err.message);
      LAB.markStale($("ae-samples"), true);
      $("ae-offset").textContent = "";
    }
    syncPager();
  }

  async function loadRun() {
    if (!run()) return;
    try {
      const info = await LAB.api(`/api/run?name=${encodeURIComponent(run())}&checkpoint=${checkpoint()}`);
      LAB.showError($("ae-error"), null);
      $("ae-run-info").textContent = `${info.model || "?"}, ${LAB.int(info.params)} parameters, epoch ${info.epoch}`;
      specYaml = info.spec_yaml || "";
      const shape = info.input_shape || [];
      inputHW = shape.length === 3 ? [shape[1], shape[2]] : [N, N];
      LAB.markStale($("ae-view"), false);
      showScore(info);
      showSubject((info.config && info.config.dataset) || "");
      curvesData = info.curves || {};
      lossName = (info.config && info.config.loss) || "bce";
      fillMetricChoice();
      drawCurves();
      offset = keepOffset || 0;
      keepOffset = 0;
      total = null;
      loadSamples();
      if (pixels.some(row => row.some(v => v > 0))) reconstruct();
    } catch (err) { LAB.showError($("ae-error"), err.message); LAB.markStale($("ae-view"), true); }
  }

  let keepOffset = 0;

  // The run's own score beside the mean image's (the baseline `convolab train` prints): an undertrained
  // model may score below it, and the page says so instead of looking broken.
  function showScore(info) {
    const m = (info.summary || {}).metrics, b = (info.summary || {}).baseline, box = $("ae-score");
    if (!m || !b || typeof m.psnr !== "number" || typeof b.psnr !== "number") { box.textContent = ""; return; }
    const part = x => `PSNR ${x.psnr.toFixed(2)} dB` + (typeof x.bce === "number" ? `, BCE ${x.bce.toFixed(4)}` : "");
    const worse = m.psnr < b.psnr;
    box.textContent = `the run's score (${info.summary.eval_set || "evaluation set"}): ${part(m)}; ` +
      `predicting the mean image: ${part(b)}. ` + (worse
        ? "The model is still below the mean image: it is undertrained (train more epochs), not broken."
        : `The model beats the mean image by ${(m.psnr - b.psnr).toFixed(2)} dB.`);
    box.classList.toggle("warn", worse);
  }

  // What to draw, after the run's dataset (the registry's names; other data: "something like its images")
  const SUBJECTS = { mnist: "a digit (0-9)", "fashion-mnist": "a piece of clothing (a shoe, a shirt, a bag...)",
    kmnist: "a Japanese character (hiragana)", emnist: "a letter or a digit" };
  function showSubject(dataset) {
    const what = SUBJECTS[dataset] || "something like its training images";
    $("ae-subject").textContent = what;
    $("ae-draw").setAttribute("aria-label", `drawing canvas (28x28): draw ${what} with the mouse or a finger`);
  }

  function stateOf() { return run() ? { run: run(), checkpoint: checkpoint(), offset } : {}; }

  LAB.panels.autoencoder = {
    state: stateOf,
    show(s) {  // a link to another run, checkpoint or offset while the panel is open
      LAB.setChoice($("ae-run"), s.run);
      LAB.setChoice($("ae-checkpoint"), s.checkpoint);
      keepOffset = Math.max(0, parseInt(s.offset || "0", 10) || 0);
      loadRun();
    },
    async activate(state) {
      state = state || {};
      keepOffset = Math.max(0, parseInt(state.offset || "0", 10) || 0);
      $("ae-open-spec").addEventListener("click", () => { if (specYaml) LAB.open("designer", { spec: specYaml }); });
      clearDrawing();
      setupDrawing();
      $("ae-run").addEventListener("change", loadRun);
      $("ae-checkpoint").addEventListener("change", loadRun);
      $("ae-metric").addEventListener("change", drawCurves);
      $("ae-prev").addEventListener("click", () => { offset = Math.max(0, offset - count); loadSamples(); });
      $("ae-next").addEventListener("click", () => { if (total !== null && offset + count < total) { offset += count; loadSamples(); } });
      try {
        const res = await LAB.api("/api/runs");
        for (const r of res.runs) {
          const opt = document.createElement("option");
          opt.value = r.name; opt.textContent = r.name + (r.model ? ` (${r.model}, ${r.dataset})` : "");
          $("ae-run").appendChild(opt);
        }
        if (!res.runs.length) {
          LAB.showError($("ae-error"), `no training runs under ${res.root}; train one with ` +
            "`convolab train --out runs/NAME` or start the lab with --runs FOLDER");
          return;
        }
        if (state.run && res.runs.some(r => r.name === state.run)) $("ae-run").value = state.run;
        if (state.checkpoint) $("ae-checkpoint").value = state.checkpoint;
        await loadRun();
      } catch (err) { LAB.showError($("ae-error"), err.message); }
    },
  };
})();
