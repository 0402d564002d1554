"""What every CLI test of a user mistake checks: exit code 2 and exactly one ``error: …`` line on stderr."""


def one_error_line(result) -> str:
    """The one error line of a ``CliRunner`` result that must have failed as a user mistake."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]
