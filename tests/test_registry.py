import pytest

from r4t.errors import ConfigError, UnknownNameError
from r4t.registry import Registry


def make() -> Registry:
    reg = Registry("widgets")

    @reg.register("small_widget")
    class Small:
        """A small widget."""

        def __init__(self, size: int = 1) -> None:
            self.size = size

    @reg.register("make_big")
    def make_big(size: int = 10) -> dict:
        """Builds a big one."""
        return {"size": size}

    return reg


def test_register_get_build_names():
    reg = make()
    assert reg.names() == ["make_big", "small_widget"]
    assert reg.build("small_widget").size == 1
    assert reg.build({"name": "small_widget", "size": 3}).size == 3
    assert reg.build("make_big", size=5) == {"size": 5}  # runtime overrides
    assert reg.build("make_big", defaults={"size": 7}) == {"size": 7}  # defaults fill what the spec leaves out...
    assert reg.build({"name": "make_big", "size": 2}, defaults={"size": 7}) == {"size": 2}  # ...and never replace it
    assert reg.build({"name": "make_big", "size": 2}, defaults={"size": 7}, size=9) == {"size": 9}  # overrides win
    assert reg.describe() == {"make_big": "Builds a big one.", "small_widget": "A small widget."}


def test_unknown_name_lists_known_and_suggests():
    with pytest.raises(UnknownNameError) as err:
        make().get("smal_widget")
    msg = str(err.value)
    assert "unknown widgets 'smal_widget'" in msg
    assert "Did you mean 'small_widget'?" in msg
    assert "make_big, small_widget" in msg


def test_duplicate_and_bad_names_rejected():
    reg = make()
    with pytest.raises(ConfigError, match="duplicate widgets name 'make_big'"):
        reg.add("make_big", lambda: None)
    with pytest.raises(ConfigError, match="snake_case"):
        reg.add("BadName", lambda: None)


def test_class_path_spec_and_errors():
    reg = make()
    obj = reg.build({"class_path": "collections.OrderedDict", "init_args": {}})
    assert type(obj).__name__ == "OrderedDict"
    with pytest.raises(ConfigError, match="cannot import module"):
        reg.build({"class_path": "no_such_module.Thing"})
    with pytest.raises(ConfigError, match="has no attribute"):
        reg.build({"class_path": "collections.NoSuchThing"})


def test_signature_errors_name_accepted_arguments():
    with pytest.raises(ConfigError, match=r"accepted arguments: size"):
        make().build({"name": "small_widget", "colour": "red"})


def test_validate_reports_key_paths_without_raising():
    reg = make()
    assert reg.validate("small_widget", "model.widget") == []
    errors = reg.validate({"name": "nope"}, "model.widget") + reg.validate({"name": "make_big", "x": 1}, "data.widget")
    assert errors[0].startswith("model.widget: unknown widgets 'nope'")
    assert errors[1].startswith("data.widget:") and "unexpected keyword argument 'x'" in errors[1]


def test_broken_plugin_is_recorded_not_fatal(monkeypatch):
    class EP:
        name, value = "broken", "missing_mod:Thing"

        def load(self):
            raise ImportError("No module named 'missing_mod'")

    monkeypatch.setattr("r4t.registry.entry_points", lambda group: [EP()])
    reg = Registry("widgets", entry_point_group="r4t.widgets")
    reg.add("ok_widget", dict)
    assert reg.names() == ["ok_widget"]
    with pytest.raises(UnknownNameError, match="Plugins that failed to load: broken"):
        reg.get("other")
