"""The hostile suite (tests/hostile/): its helper module `_hostile` is importable from its tests, and
the cases that still find a violation of the input/output contract are listed in KNOWN_VIOLATIONS.

Each listed case is marked xfail (not strict: a few involve signals and timing) with its reason, so
the suite records what is still broken; fixing a violation means deleting its line here.

Opt-in while issue 22 is open: `BNREG_HOSTILE=1 python -m pytest tests/hostile` (about 3 minutes).  It is
left out of the default run because some signal cases are still intermittent (figures killed with
SIGKILL once left a worker behind in 1 of 3 runs), and an intermittent test would make CI flaky.
Measured on 2026-12-05: 416 cases, 44 violations (issue 22 stays open until this is empty)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)


import os  # noqa: E402

import pytest  # noqa: E402

if os.environ.get("BNREG_HOSTILE", "0") in ("", "0"):
    collect_ignore_glob = ["test_*.py"]

KNOWN_VIOLATIONS = (
    'tests/hostile/test_hostile_check.py::test_bad_check_files[sys-exit-0]',
    'tests/hostile/test_hostile_check.py::test_bad_check_files[sys-exit-3]',
    'tests/hostile/test_hostile_check.py::test_bad_check_files[sys-exit-message]',
    'tests/hostile/test_hostile_check.py::test_bad_check_files[sampler-systemexit]',
    'tests/hostile/test_hostile_check.py::test_zero_variance_sampler_presents_no_inf[equal]',
    'tests/hostile/test_hostile_check.py::test_zero_variance_sampler_presents_no_inf[different]',
    'tests/hostile/test_hostile_dask.py::test_api_address_without_dask_backend',
    'tests/hostile/test_hostile_limits.py::test_address_space_limit[verify-100M]',
    'tests/hostile/test_hostile_misc.py::test_path_longer_than_path_max[verify-json]',
    'tests/hostile/test_hostile_misc.py::test_path_longer_than_path_max[cnn-out]',
    'tests/hostile/test_hostile_misc.py::test_newline_in_a_path_keeps_the_error_on_one_line[figures-out]',
    'tests/hostile/test_hostile_misc.py::test_newline_in_a_path_keeps_the_error_on_one_line[demo-save]',
    'tests/hostile/test_hostile_misc.py::test_newline_in_a_path_keeps_the_error_on_one_line[cnn-checkpoint]',
    'tests/hostile/test_hostile_misc.py::test_json_to_dev_stdout_redirected_to_a_file',
    'tests/hostile/test_hostile_numbers.py::test_cnn_huge_sizes_are_refused_or_one_line[kernel-1001]',
    'tests/hostile/test_hostile_numbers.py::test_workers_far_above_the_cores_is_refused_or_bounded',
    'tests/hostile/test_hostile_numbers.py::test_bnreg_threads_garbage_other_commands[figures]',
    'tests/hostile/test_hostile_numbers.py::test_api_checks_bnreg_threads_every_time',
    'tests/hostile/test_hostile_api.py::test_api_validates_like_the_cli[make_figures-names-int]',
    'tests/hostile/test_hostile_api.py::test_api_validates_like_the_cli[make_figures-out-None]',
    'tests/hostile/test_hostile_api.py::test_api_validates_like_the_cli[make_figures-out-empty]',
    'tests/hostile/test_hostile_api.py::test_testing_api_bad_samplers[raises-systemexit]',
    'tests/hostile/test_hostile_api.py::test_testing_api_zero_variance_sampler_shows_no_inf[equal]',
    'tests/hostile/test_hostile_api.py::test_testing_api_zero_variance_sampler_shows_no_inf[different]',
    'tests/hostile/test_hostile_outputs.py::test_file_output_targets[verify-long-name]',
    'tests/hostile/test_hostile_outputs.py::test_file_output_targets[verify-symlink-loop]',
    'tests/hostile/test_hostile_outputs.py::test_file_output_targets[verify-newline-missing-dir]',
    'tests/hostile/test_hostile_outputs.py::test_file_output_targets[cnn-long-name]',
    'tests/hostile/test_hostile_outputs.py::test_file_output_targets[cnn-symlink-loop]',
    'tests/hostile/test_hostile_outputs.py::test_file_output_targets[cnn-newline-missing-dir]',
    'tests/hostile/test_hostile_outputs.py::test_file_output_targets[check-long-name]',
    'tests/hostile/test_hostile_outputs.py::test_file_output_targets[bench-long-name]',
    'tests/hostile/test_hostile_outputs.py::test_directory_output_targets[figures-empty]',
    'tests/hostile/test_hostile_outputs.py::test_directory_output_targets[demo-save-empty]',
    'tests/hostile/test_hostile_outputs.py::test_directory_output_targets[demo-notebook-empty]',
    'tests/hostile/test_hostile_outputs.py::test_directory_output_targets[cnn-checkpoint-empty]',
    'tests/hostile/test_hostile_signals.py::test_verify_workers_signal[SIGTERM]',
    'tests/hostile/test_hostile_signals.py::test_verify_killed_while_its_pool_starts[SIGKILL]',
    'tests/hostile/test_hostile_signals.py::test_verify_killed_while_its_pool_starts[SIGTERM]',
    'tests/hostile/test_hostile_stdout.py::test_stdout_closed[formulas]',
    'tests/hostile/test_hostile_stdout.py::test_stdout_closed[eval-json]',
    'tests/hostile/test_hostile_stdout.py::test_stdout_closed[figures-list]',
    'tests/hostile/test_hostile_stdout.py::test_stdout_closed[derive-list]',
    'tests/hostile/test_hostile_stdout.py::test_stdout_closed_still_writes_the_json',
)


def pytest_collection_modifyitems(config, items):
    known = set(KNOWN_VIOLATIONS)
    for item in items:
        if item.nodeid in known:
            item.add_marker(pytest.mark.xfail(reason="known violation of the contract (issue 22)", strict=False))
