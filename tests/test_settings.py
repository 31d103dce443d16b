
import pytest

from assistant.errors import SettingsError
from assistant.settings import load_settings


def test_defaults_then_environment_then_options(tmp_path):
    env = {"HANDBOOK_HOME": str(tmp_path / "env"), "HANDBOOK_TOP_K": "9", "HANDBOOK_RETRIEVAL": "dense"}
    s = load_settings(env)
    assert s.home == tmp_path / "env" and s.top_k == 9 and s.retrieval == "dense"
    s = load_settings(env, home=tmp_path / "opt", top_k=None, retrieval="bm25")
    assert s.home == tmp_path / "opt" and s.top_k == 9 and s.retrieval == "bm25"
    assert s.index_dir == tmp_path / "opt" / "index"


def test_default_home_is_the_users_data_dir():
    assert "handbook" in str(load_settings({}).home)


@pytest.mark.parametrize("env", [{"HANDBOOK_RETRIEVAL": "magic"}, {"HANDBOOK_TOP_K": "many"},
                                 {"HANDBOOK_LLM": "gpt"}, {"HANDBOOK_TOP_K": "0"}])
def test_bad_values_are_one_clear_error(env):
    with pytest.raises(SettingsError) as err:
        load_settings(env)
    assert "HANDBOOK_" in str(err.value) or "must" in str(err.value)


def test_booleans_from_environment():
    assert load_settings({"HANDBOOK_LOG_ENABLED": "0"}).log_enabled is False
    assert load_settings({"HANDBOOK_LOG_ENABLED": "yes"}).log_enabled is True
