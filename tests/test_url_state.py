"""vlkge.app.url_state: a page's settings read from and written to its query string."""
from vlkge.app.url_state import MAX_ITEMS, Param, publish, read, seed


def test_typed_values_round_trip_and_defaults_stay_out_of_the_url():
    params: dict = {}
    specs = [(Param("k", 10, low=5, high=50), 25), (Param("known", True), False), (Param("w", 0.5), 0.9),
             (Param("rel", "hasStyle", choices=["hasStyle", "genre"]), "genre"),
             (Param("sel", [], many=True), ["a", "b,c"])]
    for p, value in specs:
        publish(params, p, value)
        assert read(params, p) == value, p.name
        publish(params, p, p.default)
        assert p.name not in params and read(params, p) == p.default


def test_what_cannot_be_read_is_the_default():
    assert read({"k": "many"}, Param("k", 10)) == 10
    assert read({"k": "500"}, Param("k", 10, low=5, high=50)) == 10
    assert read({"w": "nan"}, Param("w", 0.5)) == 0.5
    assert read({"known": "perhaps"}, Param("known", True)) is True
    assert read({"known": "off"}, Param("known", True)) is False
    assert read({"rel": "gone"}, Param("rel", "hasStyle", choices=["hasStyle"])) == "hasStyle"
    assert read({"sel": ["x", "y", "x", "zz"]}, Param("sel", [], many=True, choices=["x", "y"])) == ["x", "y"]
    assert len(Param("sel", [], many=True).parse([str(i) for i in range(1000)])) == MAX_ITEMS


def test_seed_gives_the_url_value_once_and_then_keeps_the_curators_choice():
    state: dict = {}
    p = Param("rel", "a", choices=["a", "b", "c"])
    assert seed(state, {"rel": "b"}, "w", p) == "b"
    state["w"] = "c"  # the curator picked another
    assert seed(state, {"rel": "b"}, "w", p) == "c"
    # the options changed under the widget: its value is read again
    assert seed(state, {"rel": "b"}, "w", Param("rel", "a", choices=["a", "b"])) == "b"
