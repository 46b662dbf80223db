"""`FactoryRun`'s signal handlers: the run that set them stops gracefully; a process forked
after they were set (the step pool replacing a worker) still dies of SIGTERM, so distilabel's
`Pool.terminate()` at teardown cannot wait forever on it."""

from __future__ import annotations

import os
import signal
import time

from reasonembed.factory.pipeline_run import FactoryRun


class _Stops:
    stopped = 0

    def _stop(self) -> None:
        self.stopped += 1


class _Run(FactoryRun, _Stops):
    pass


def test_sigterm_stops_the_run_and_still_kills_a_process_forked_after_the_handler():
    run = _Run()
    run._previous_handlers = {}
    run._handle_keyboard_interrupt()
    try:
        child = os.fork()
        if child == 0:  # a worker forked after the handler was set
            time.sleep(30)
            os._exit(0)
        time.sleep(0.2)
        os.kill(child, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pid, status = os.waitpid(child, os.WNOHANG)
            if pid:
                break
            time.sleep(0.05)
        else:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            raise AssertionError("the forked worker survived SIGTERM")
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM

        os.kill(os.getpid(), signal.SIGTERM)  # the run's own process: a graceful stop
        time.sleep(0.1)
        assert run.stopped_by == signal.SIGTERM and run.stopped == 1
    finally:
        for signum, handler in run._previous_handlers.items():
            signal.signal(signum, handler)
