"""Settings from the environment: bad values fail clearly, empty ones fall back to the
defaults. Each test imports parnrn afresh in a subprocess."""

from support.launch import run_python


def test_empty_environment_values_mean_the_defaults():
    result = run_python(
        "import parnrn.log\n"
        "from parnrn.settings import settings\n"
        "print(settings.log_level, settings.log_ranks, settings.timeout, settings.checks)",
        env={"PARNRN_LOG_LEVEL": "", "PARNRN_LOG_RANKS": " ", "PARNRN_TIMEOUT": ""},
    )
    assert result.returncode == 0, result.output
    assert result.stdout.split() == ["INFO", "root", "None", "True"]


def test_timeout_from_the_environment():
    result = run_python(
        "from parnrn.settings import settings; print(settings.timeout)",
        env={"PARNRN_TIMEOUT": "2.5"},
    )
    assert result.stdout.strip() == "2.5"


def test_bad_timeout_in_the_environment_names_the_variable():
    result = run_python("import parnrn.settings", env={"PARNRN_TIMEOUT": "soon"})
    assert result.returncode != 0
    assert "PARNRN_TIMEOUT='soon' is not a number of seconds" in result.stderr


def test_seed_from_the_environment():
    code = "from parnrn.settings import settings; print(settings.seed)"
    assert run_python(code, env={"PARNRN_SEED": ""}).stdout.strip() == "0"
    assert run_python(code, env={"PARNRN_SEED": " 42 "}).stdout.strip() == "42"


def test_bad_seed_in_the_environment_names_the_variable():
    result = run_python("import parnrn.settings", env={"PARNRN_SEED": "lucky"})
    assert result.returncode != 0
    assert "PARNRN_SEED='lucky' is not an integer" in result.stderr
