// The embedding map inside its Streamlit component iframe: every point in scattergl traces, a
// hover card (label, type, thumbnail) built with textContent, clicks and lasso/box selections
// sent back to Python. The points are decoded and redrawn only when their key changes; the
// highlight, filter and selection of each rerun are small lists of point positions.
(function () {
  "use strict";
  const plot = document.getElementById("plot");
  const tip = document.getElementById("tip");
  const tipImg = document.getElementById("tip-img");
  const tipLabel = document.getElementById("tip-label");
  const tipType = document.getElementById("tip-type");
  const THUMB = /^[0-9a-f]{8,64}\.jpg$/;
  let key = null, d = null, listening = false, rendered = false, lastSelected = "", selectionRevision = 0;

  function send(type, extra) {
    window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type: type }, extra), "*");
  }
  function emit(kind, entities) {
    send("streamlit:setComponentValue", { value: { kind: kind, entities: entities, t: Date.now() }, dataType: "json" });
  }
  function view(bytes, Kind) {  // a copy: the bytes may start at an offset the typed array cannot
    const b = bytes.slice();
    return new Kind(b.buffer, 0, b.byteLength / Kind.BYTES_PER_ELEMENT);
  }
  function decode(a) {
    const text = new TextDecoder();
    const xy = view(a.xy, Float32Array);
    const x = new Float32Array(a.n), y = new Float32Array(a.n);
    for (let i = 0; i < a.n; i++) { x[i] = xy[2 * i]; y[i] = xy[2 * i + 1]; }
    const cat = view(a.cat, Uint16Array);
    const byCat = a.legend.map(function () { return []; });
    for (let i = 0; i < a.n; i++) byCat[cat[i]].push(i);
    return { n: a.n, x: x, y: y, entity: view(a.entity, Int32Array), type: view(a.type, Uint16Array),
             byCat: byCat, labels: JSON.parse(text.decode(a.labels)), types: JSON.parse(text.decode(a.types)),
             thumbs: a.thumbs || {} };
  }
  function trace(pos, extra) {
    const x = new Float32Array(pos.length), y = new Float32Array(pos.length);
    for (let k = 0; k < pos.length; k++) { x[k] = d.x[pos[k]]; y[k] = d.y[pos[k]]; }
    return Object.assign({ type: "scattergl", mode: "markers", x: x, y: y, pos: pos, hoverinfo: "none" }, extra);
  }
  function traces(a) {
    const shown = a.shown ? new Set(a.shown) : null, m = a.marker, out = [];
    let drawn = 0;
    if (a.density) {  // where the points crowd, beneath them: at 81k, overlapping markers hide it
      out.push({ type: "histogram2dcontour", x: d.x, y: d.y, ncontours: 12, showscale: false, hoverinfo: "skip",
                 colorscale: [[0, "rgba(255,255,255,0)"], [1, "rgba(60,60,60,0.55)"]],
                 contours: { coloring: "fill", showlines: false }, name: "density", showlegend: false });
    }
    d.byCat.forEach(function (pos, c) {
      if (!pos.length || (shown && !shown.has(c))) return;
      drawn += pos.length;
      out.push(trace(pos, { name: a.legend[c], marker: { size: m, opacity: 0.8, color: a.colours[c] } }));
    });
    if (a.highlight.length) {
      out.push(trace(a.highlight, { name: "“" + a.highlight_name + "” (" + a.highlight.length.toLocaleString("en") + ")",
        marker: { size: m + 7, color: "rgba(0,0,0,0)", line: { width: 2.5, color: "#000000" } } }));
    }
    if (a.selected.length) {
      out.push(trace(a.selected, { name: "selection (" + a.selected.length.toLocaleString("en") + ")",
        marker: { size: m + 4, color: "rgba(0,0,0,0)", line: { width: 1.5, color: "#ff6a00" } } }));
    }
    document.body.dataset.points = String(drawn);
    return out;
  }
  function posOf(pt) {
    const pos = plot.data[pt.curveNumber] && plot.data[pt.curveNumber].pos;
    return pos ? pos[pt.pointIndex] : undefined;
  }
  function showTip(p, ev) {
    tipLabel.textContent = d.labels[p];
    tipType.textContent = d.types[d.type[p]];
    const name = d.thumbs[String(p)];
    if (name && THUMB.test(name)) {
      tipImg.hidden = false;
      tipImg.src = "thumbs/" + name;
    } else {
      tipImg.hidden = true;
      tipImg.removeAttribute("src");
    }
    tip.hidden = false;
    const cx = ev ? ev.clientX : 0, cy = ev ? ev.clientY : 0, w = tip.offsetWidth, h = tip.offsetHeight;
    tip.style.left = Math.max(0, Math.min(cx + 14, window.innerWidth - w - 4)) + "px";
    tip.style.top = Math.max(0, Math.min(cy + 14, window.innerHeight - h - 4)) + "px";
  }
  tipImg.addEventListener("error", function () { tipImg.hidden = true; });
  // Plotly reports a selection cleared by our own redraw (selectionrevision) as a deselect:
  // only a lasso, box or double-click of the curator's, just released, changes the selection.
  let released = 0;
  ["mouseup", "pointerup", "dblclick"].forEach(function (t) {
    document.addEventListener(t, function () { released = Date.now(); }, true);
  });
  let redrawing = false, clearing = null;
  function byUser() { return !redrawing && Date.now() - released < 1500; }
  function listen() {
    plot.on("plotly_hover", function (ev) {
      const p = posOf(ev.points[0]);
      if (p !== undefined) showTip(p, ev.event);
    });
    plot.on("plotly_unhover", function () { tip.hidden = true; });
    plot.on("plotly_click", function (ev) {
      const p = posOf(ev.points[0]);
      if (p === undefined) return;
      clearTimeout(clearing);  // a click on a point also clears Plotly's selection: opening wins
      emit("open", [d.entity[p]]);
    });
    plot.on("plotly_selected", function (ev) {
      if (!ev || !byUser()) return;
      const seen = new Set();
      ev.points.forEach(function (pt) { const p = posOf(pt); if (p !== undefined) seen.add(d.entity[p]); });
      emit("select", Array.from(seen));
    });
    plot.on("plotly_deselect", function () {
      if (byUser()) clearing = setTimeout(function () { emit("select", []); }, 400);
    });
    listening = true;
  }
  function render(a) {
    rendered = true;
    if (a.points_key !== key) { d = decode(a); key = a.points_key; }
    const sel = a.selected.join(",");
    if (sel !== lastSelected) { lastSelected = sel; selectionRevision += 1; }
    // zoom and legend toggles survive reruns (uirevision); Plotly's own lasso outline and dimming
    // go once Python has the selection (selectionrevision): the orange rings show it from then on
    const layout = { height: a.height, margin: { l: 10, r: 10, t: 30, b: 10 }, dragmode: "lasso",
                     hovermode: "closest", uirevision: a.points_key, selectionrevision: selectionRevision,
                     legend: { itemsizing: "constant" }, xaxis: { visible: false }, yaxis: { visible: false } };
    redrawing = true;
    Plotly.react(plot, traces(a), layout, { displaylogo: false, responsive: true }).then(function () {
      if (!listening) listen();
      setTimeout(function () { redrawing = false; document.body.dataset.ready = a.points_key; }, 0);
    });
    send("streamlit:setFrameHeight", { height: a.height });
  }
  window.addEventListener("message", function (ev) {
    if (ev.source === window.parent && ev.data && ev.data.type === "streamlit:render") render(ev.data.args);
  });
  // Say so again until the first render comes: a message sent before Streamlit listens to this
  // frame is dropped, and the map would wait forever.
  (function ready() {
    if (rendered) return;
    send("streamlit:componentReady", { apiVersion: 1 });
    setTimeout(ready, 1000);
  })();
})();
