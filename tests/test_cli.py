from lpsens_testing import REPO, run_cli
import lpsens


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0 and lpsens.__version__ in proc.stdout


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- test-command -->")[1].split("<!-- /test-command -->")[0]
    command = [line for line in block.strip().splitlines() if not line.startswith("```")]
    assert len(command) == 1 and "pytest" in command[0]
    ci = (REPO / ".ci/run").read_text()
    assert "<!-- test-command -->" in ci and "venv" in command[0]
