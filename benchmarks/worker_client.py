"""The parent's side of a worker process (worker.py is the child's): start, call, close."""
from worker import THREADS, serve


class Worker:
    """A system's process and the pipe to it."""

    def __init__(self, ctx, system, wl, dtype, rows):
        self.system = system
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(child, system, wl, dtype, rows, THREADS),
                                daemon=True)
        self.proc.start()
        child.close()
        self.error = None
        self.info = {}          # once ready: its BLAS (worker.blas_info) and OpenBLAS overrides

    def ready(self, timeout=900):
        if not self.conn.poll(timeout):
            self.error = "no answer from the worker"
        else:
            reply = self.conn.recv()
            if reply[0] == "error":
                self.error = reply[1]
            else:
                self.info = reply[1]
        return self.error is None

    def call(self, *cmd, timeout=3600):
        self.conn.send(cmd)
        if not self.conn.poll(timeout):
            raise RuntimeError(f"{self.system}: no answer to {cmd}")
        reply = self.conn.recv()
        if reply[0] == "error":
            raise RuntimeError(f"{self.system}: {reply[1]}")
        return reply[1:]

    def close(self):
        try:
            self.conn.send(("quit",))
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join()
