"""One model thread; the newest request wins; superseded requests that are still queued never run."""

import asyncio
import threading

import pytest

from codegen_lsp.scheduler import Scheduler, Superseded


async def test_queued_requests_superseded_by_a_newer_one_never_run():
    scheduler = Scheduler()
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def job(name, block=False):
        def run(cancel):
            ran.append(name)
            if block:
                started.set()
                release.wait(30)
            return name, cancel.reason

        return run

    first = asyncio.ensure_future(scheduler.generate(job("first", block=True)))
    # first is running (and does not look at its token) however busy the machine is
    assert await asyncio.get_running_loop().run_in_executor(None, started.wait, 30)
    second = asyncio.ensure_future(scheduler.generate(job("second")))
    third = asyncio.ensure_future(scheduler.generate(job("third")))
    await asyncio.sleep(0)  # both tasks have queued their jobs (tasks run in the order they were made)
    release.set()
    assert await first == ("first", "superseded")  # told to stop; what it does with that is its own
    with pytest.raises(Superseded):
        await second
    assert await third == ("third", None)
    assert ran == ["first", "third"] and scheduler.max_running == 1
    scheduler.shutdown()


async def test_cancelling_the_awaiting_request_tells_the_job_to_stop():
    scheduler = Scheduler()
    seen = threading.Event()
    reasons = []

    def job(cancel):
        seen.set()
        while not cancel.cancelled:
            threading.Event().wait(0.001)
        reasons.append(cancel.reason)

    task = asyncio.ensure_future(scheduler.generate(job))
    await asyncio.get_running_loop().run_in_executor(None, seen.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await scheduler.call(lambda: None)  # the model thread is free again
    assert reasons == ["cancelled"]
    scheduler.shutdown()
