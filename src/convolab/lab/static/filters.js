// Filters: a classic kernel on a dataset image or an uploaded PNG/JPEG; result and its size.
"use strict";

(() => {
  const $ = id => document.getElementById(id);
  let upload = null;        // data: URL of the uploaded file
  let kernels = {};
  let requestNo = 0;

  function settings() {
    const k = kernels[$("flt-kernel").value], params = k ? k.params : [];
    const body = {
      kernel: $("flt-kernel").value,
      // size may be left empty on purpose (the kernel's own size); sigma and stride may not
      size: $("flt-size").value.trim() === "" || !params.includes("size") ? null : LAB.readInt($("flt-size"), "size"),
      sigma: params.includes("sigma") ? LAB.readNumber($("flt-sigma"), "sigma") : 1,
      stride: LAB.readInt($("flt-stride"), "stride"),
      padding: $("flt-padding").value,
      border: $("flt-border").value,
    };
    if ($("flt-source").value === "upload") {
      if (!upload) throw new Error("choose a PNG or JPEG file to upload");
      body.upload = upload;
    } else {
      body.dataset = $("flt-dataset").value;
      body.index = LAB.readInt($("flt-index"), "index");
    }
    return body;
  }

  function showKernel(values) {
    const table = document.createElement("table");
    table.className = "kernel";
    const big = values.length > 9;
    for (const row of big ? values.slice(0, 9) : values) {
      const tr = document.createElement("tr");
      for (const v of big ? row.slice(0, 9) : row) { const td = document.createElement("td"); td.textContent = LAB.fmt(v); tr.appendChild(td); }
      if (big) tr.appendChild(document.createElement("td")).textContent = "...";
      table.appendChild(tr);
    }
    $("flt-kernel-view").replaceChildren(table);
    if (big) $("flt-kernel-view").append(`(${values.length}x${values[0].length}, first 9x9 shown)`);
  }

  function syncParams() {
    const k = kernels[$("flt-kernel").value];
    const params = k ? k.params : [];
    $("flt-size").disabled = !params.includes("size");
    $("flt-sigma").disabled = !params.includes("sigma");
    const upload = $("flt-source").value === "upload";
    document.querySelectorAll(".src-dataset").forEach(el => { el.hidden = upload; });
    document.querySelectorAll(".src-upload").forEach(el => { el.hidden = !upload; });
  }

  // The panel's state for the URL: the controls as written (an upload cannot travel in a link: only
  // that the upload was chosen; size and sigma only where the kernel takes them).
  function stateOf() {
    const k = kernels[$("flt-kernel").value], params = k ? k.params : [];
    const s = { kernel: $("flt-kernel").value, stride: $("flt-stride").value.trim(), padding: $("flt-padding").value,
      border: $("flt-border").value };
    if (params.includes("size")) s.size = $("flt-size").value.trim();
    if (params.includes("sigma")) s.sigma = $("flt-sigma").value.trim();
    if ($("flt-source").value === "upload") s.source = "upload";
    else { s.dataset = $("flt-dataset").value; s.index = $("flt-index").value.trim(); }
    return s;
  }

  function restore(s) {
    LAB.setChoice($("flt-kernel"), s.kernel);
    for (const key of ["padding", "border", "dataset"]) LAB.setChoice($("flt-" + key), s[key]);
    LAB.setChoice($("flt-source"), s.source === "upload" ? "upload" : s.dataset || s.index ? "dataset" : undefined);
    for (const key of ["index", "size", "sigma", "stride"]) if (s[key] !== undefined) $("flt-" + key).value = s[key];
  }

  async function update() {
    syncParams();
    LAB.saveState("filters", stateOf());
    const mine = ++requestNo;
    LAB.busy($("flt-view"), true);
    let body;
    try { body = settings(); } catch (err) { fail(err); return; }
    try {
      const res = await LAB.api("/api/filter", body);
      if (mine !== requestNo) return;
      LAB.showError($("flt-error"), null);
      LAB.markStale($("flt-view"), false);
      $("flt-input").src = res.input;
      $("flt-output").src = res.output;
      const [ih, iw] = res.input_shape, [oh, ow] = res.output_shape;
      $("flt-output").style.width = Math.round(280 * ow / iw) + "px";
      $("flt-in-shape").textContent = `${ih}x${iw}`;
      $("flt-out-shape").textContent = `${oh}x${ow}`;
      showKernel(res.kernel_values);
      $("flt-info").textContent =
        `${res.kernel} ${res.kernel_values.length}x${res.kernel_values[0].length}, stride ${res.settings.stride}, ` +
        `padding '${res.settings.padding}', border ${res.settings.border}: ${ih}x${iw} -> ${oh}x${ow}; ` +
        `values ${res.range[0]} .. ${res.range[1]}` + (res.signed ? " (0 shown as mid-grey)" : "");
    } catch (err) {
      if (mine === requestNo) fail(err);
    }
    if (mine === requestNo) LAB.busy($("flt-view"), false);
  }

  function fail(err) {
    LAB.showError($("flt-error"), err.message);
    LAB.markStale($("flt-view"), true);
    LAB.busy($("flt-view"), false);
  }

  LAB.panels.filters = {
    state: stateOf,
    show(s) { if (Object.keys(kernels).length) { restore(s); update(); } },
    async activate(state) {
      try {
        const res = await LAB.api("/api/kernels");
        for (const k of res.kernels) {
          kernels[k.name] = k;
          const opt = document.createElement("option");
          opt.value = k.name; opt.textContent = k.name; opt.title = k.summary;
          $("flt-kernel").appendChild(opt);
        }
        for (const b of res.borders) $("flt-border").appendChild(new Option(b, b));
        if (!LAB.datasetSelect($("flt-dataset"), res.datasets)) $("flt-source").value = "upload";
      } catch (err) { LAB.showError($("flt-error"), err.message); return; }
      const later = LAB.debounce(update, 200);
      for (const id of ["flt-source", "flt-dataset", "flt-kernel", "flt-padding", "flt-border"]) $(id).addEventListener("change", update);
      for (const id of ["flt-index", "flt-size", "flt-sigma", "flt-stride"]) $(id).addEventListener("input", later);
      $("flt-file").addEventListener("change", () => {
        const file = $("flt-file").files[0];
        if (!file) return;
        const reader = new FileReader();
        reader.onload = () => { upload = reader.result; update(); };
        reader.readAsDataURL(file);
      });
      $("flt-kernel").value = "sobel_x";
      restore(state || {});
      update();
    },
  };
})();
