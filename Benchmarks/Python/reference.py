"""Reference figures for readers coming from Python: the same get, set and
fork loops on CPython's contextvars and on aiotask-context 0.6.1.

Run by `make bench` inside a virtual environment it creates. Prints one TSV
line per (operation, subject, n): the median ns per operation over several
timed rounds. Cross-language figures are for orientation, not targets.
"""
import asyncio
import contextvars
import statistics
import sys
import time

SIZES = [1, 8, 64, 1024, 65536]
ROUNDS = 7


def timed(fn, ops):
    """Median ns per op of `fn(ops)` over ROUNDS rounds."""
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        fn(ops)
        samples.append((time.perf_counter_ns() - start) / ops)
    return statistics.median(samples)


def emit(operation, subject, n, ns):
    print(f"{operation}--{subject}--{n}\t{ns:.2f}")


def contextvars_figures():
    for n in SIZES:
        variables = [contextvars.ContextVar(f"key-{i}") for i in range(n)]
        fresh = contextvars.ContextVar("fresh")

        def setup():
            for i, var in enumerate(variables):
                var.set(i)

        def get(ops, var=variables[0]):
            for _ in range(ops):
                var.get()

        def set_new(ops):
            # A set in a fresh copy of the n-key context: the persistent insert.
            ctx = contextvars.copy_context()
            for _ in range(ops):
                ctx.run(fresh.set, 1)

        def fork(ops):
            for _ in range(ops):
                contextvars.copy_context()

        ctx = contextvars.Context()
        ctx.run(setup)
        ops = 200_000
        emit("get-hit", "contextvars", n, ctx.run(timed, get, ops))
        emit("set-new", "contextvars", n, ctx.run(timed, set_new, ops))
        emit("fork", "contextvars", n, ctx.run(timed, fork, ops))


def first_write(n):
    """ns per first write after a fork at n keys: copy a context holding n
    variables and set a variable it lacks in the copy (the path copy), the
    way a child scope's first write goes. `Ratios` runs this once per round,
    interleaved with ContextStore's own (`--first-write N`)."""
    variables = [contextvars.ContextVar(f"key-{i}") for i in range(n)]
    fresh = contextvars.ContextVar("fresh")
    base = contextvars.Context()

    def setup():
        for i, var in enumerate(variables):
            var.set(i)

    base.run(setup)
    value = object()

    def write(ops):
        for _ in range(ops):
            base.copy().run(fresh.set, value)

    return timed(write, 100_000)


def aiotask_figures():
    import aiotask_context as context  # only here: --first-write needs no venv

    async def body(n, results):
        for i in range(n):
            context.set(f"key-{i}", i)
        ops = 100_000

        def get(count):
            for _ in range(count):
                context.get("key-0")

        def set_new(count):
            for _ in range(count):
                context.set("fresh", 1)

        results["get-hit"] = timed(get, ops)
        results["set-new"] = timed(set_new, ops)

        # Fork: what the copying task factory does for each child task
        # (a deepcopy of the parent's dict), against a task with the sharing factory.
        async def child():
            return None

        loop = asyncio.get_running_loop()
        fork_ops = max(50, min(5_000, 2_000_000 // (n * 20 + 1)))
        samples = []
        for _ in range(ROUNDS):
            loop.set_task_factory(context.copying_task_factory)
            start = time.perf_counter_ns()
            for _ in range(fork_ops):
                await loop.create_task(child())
            samples.append((time.perf_counter_ns() - start) / fork_ops)
        results["fork"] = statistics.median(samples)
        loop.set_task_factory(context.task_factory)

    for n in SIZES:
        results = {}
        loop = asyncio.new_event_loop()
        loop.set_task_factory(context.task_factory)
        loop.run_until_complete(loop.create_task(body(n, results)))
        loop.close()
        for operation in ("get-hit", "set-new", "fork"):
            emit(operation, "aiotask-context", n, results[operation])


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--first-write":
        print(f"{first_write(int(sys.argv[2])):.2f}")
        sys.exit(0)
    print(f"# python\t{sys.version.split()[0]}")
    for n in SIZES:
        emit("first-write", "contextvars", n, first_write(n))
    contextvars_figures()
    aiotask_figures()
