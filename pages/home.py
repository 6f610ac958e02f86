"""Home: the collection at a glance, the selected run's card, training a run if none."""
import numpy as np
import pandas as pd
import streamlit as st

from pages import _ui
from vlkge.errors import VLKGEError
from vlkge.explore import fmt_eta, new_run_path, run_card, train_for_app

c = _ui.ctx()
g = c.graph
st.title("Collection at a glance")
st.caption(f"Graph: `{g.source or c.spec}`")
_ui.encoder_banner(c)

s = g.summary()
m = st.columns(5)
m[0].metric("Entities", f"{s['entities']:,}")
m[1].metric("Relations", s["relations"])
tps = s["triples_per_split"]
m[2].metric("Triples", f"{sum(tps.values()):,}", " / ".join(f"{k} {v:,}" for k, v in tps.items()),
            delta_color="off", delta_arrow="off")
m[3].metric("With image", f"{s['with_image']:,}", f"{100 * s['with_image'] / max(1, s['entities']):.0f}% of entities",
            delta_color="off", delta_arrow="off")
m[4].metric("With description", f"{s['with_description']:,}",
            f"{100 * s['with_description'] / max(1, s['entities']):.0f}% of entities", delta_color="off",
            delta_arrow="off")

left, right = st.columns(2)
with left:
    st.subheader("Entities per type")
    st.bar_chart(pd.Series(s["entities_per_type"], name="entities"), horizontal=True, height=260)
with right:
    st.subheader("Relations")
    st.dataframe(pd.DataFrame([{"relation": r, **v} for r, v in s["triples_per_relation"].items()]),
                 hide_index=True, height=260, width="stretch")

st.subheader("Trained run")
if c.run is not None:
    card = run_card(c.run)
    test = card["overall"].get("test", {})
    st.markdown(
        f"| Scorer | Encoder actually used | Modalities | Test MRR | Hits@1 | Hits@10 |\n"
        f"|---|---|---|---|---|---|\n"
        f"| {card['scorer']} (d={card['dim']}) | {card['encoder']} | {', '.join(card['modalities']) or '–'} | "
        f"{test.get('mrr', 0):.3f} | {_ui.pct(test.get('hits@1'))} | {_ui.pct(test.get('hits@10'))} |")
    calib = (f"calibration temperature {card['temperature']:.2f}" if card["temperature"] is not None
             else "not calibrated (stored temperature is not a number): confidences are not shown")
    st.caption(f"Run `{card['path']}` · protocol {card['protocol']} · {calib}")
    with st.expander("Metrics overall and per relation (test)"):
        if card["overall"]:
            st.dataframe(pd.DataFrame(card["overall"]).T, width="stretch")
        if card["per_relation"]:
            st.dataframe(pd.DataFrame(card["per_relation"]), hide_index=True, width="stretch")
elif c.run_error:
    st.error(c.run_error)
else:
    from vlkge.explore import runs_dir
    st.info("No trained run for this graph yet. Train one with default settings "
            f"(saved in `{runs_dir(g.root)}`).")
    epochs = st.number_input("Epochs (early stopping may end sooner)", 5, 500, 60, step=5)
    if st.button("Train a run now", type="primary"):
        bar = st.progress(0.0, text="starting…")
        out = new_run_path(g.root)

        def update(p):
            bar.progress(min(1.0, p.fraction), text=p.message)

        try:
            with st.spinner("Training… (keep this tab open: leaving the page stops training)"):
                metrics = train_for_app(g, out, epochs=int(epochs), on_update=update)
        except VLKGEError as e:
            st.error(f"Training failed: {e}")
            st.stop()
        bar.progress(1.0, text="done")
        st.success(f"Trained: test MRR {metrics.get('test', {}).get('mrr', 0):.3f}. Saved in `{out}`.")
        st.query_params["run"] = out.name
        st.rerun()

st.subheader("From the collection")
withimg = np.nonzero(g.has_image.numpy())[0]
imgs = withimg[np.linspace(0, len(withimg) - 1, min(12, len(withimg))).astype(int)].tolist() if len(withimg) else []
if imgs:
    _ui.gallery(c, imgs, cols=6, key="home")
else:
    st.caption("This graph has no images.")
