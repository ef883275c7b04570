#!/usr/bin/env python3
"""An SMTP sink that takes a fixed time per message, for benches/throughput.sh.

Postfix's smtp-sink can delay its reply to DATA only by whole seconds (`-w`), and a relay
that takes 50 ms per message is the case issue 15 asks about: with it, SMTP round trips,
not the database, bound what one process sends, so more processes must send more. This sink
accepts every message and answers the final "." DELAY_MS after it arrived; each connection
is served on its own, so N connections take N messages per DELAY_MS.

    python3 benches/slow_sink.py --port 2626 --delay-ms 50 [--arrivals FILE]

With --arrivals, the time of each accepted message (milliseconds since the epoch) is
appended to FILE, one a line. On SIGTERM or SIGINT it prints the messages and connections
it took.
"""

import argparse
import asyncio
import signal
import time

# What the sink offers after EHLO: lettre sends UTF-8 bodies and may use SMTPUTF8 addresses.
EHLO = (
    b"250-slow-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
    b"250 SIZE 52428800\r\n"
)
END_OF_DATA = b"\r\n.\r\n"


class Connection:
    """What a client sent and the sink has not read yet.

    Read in blocks rather than lines: a digest is hundreds of lines, and a sink that parsed
    each one would be the bottleneck it is meant to measure. Bytes after a command or a
    message stay in the buffer (a client may pipeline).
    """

    def __init__(self, reader):
        self.reader = reader
        self.buf = bytearray()

    async def fill(self):
        block = await self.reader.read(65536)
        self.buf += block
        return bool(block)

    async def line(self):
        """The next command line, or None when the client left."""
        while (end := self.buf.find(b"\r\n")) < 0:
            if not await self.fill():
                return None
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        return line

    async def message(self):
        """Skips one message up to "." alone on a line; False when the client left."""
        while True:
            # The DATA line ended with CRLF: "." first ends an empty message.
            if self.buf.startswith(b".\r\n"):
                del self.buf[:3]
                return True
            end = self.buf.find(END_OF_DATA)
            if end >= 0:
                del self.buf[: end + len(END_OF_DATA)]
                return True
            if not await self.fill():
                return False


class Sink:
    """Counts and, when asked to, records what it accepted."""

    def __init__(self, delay, arrivals):
        self.delay = delay
        self.arrivals = arrivals
        self.messages = 0
        self.sessions = 0

    async def session(self, reader, writer):
        self.sessions += 1
        conn = Connection(reader)
        try:
            writer.write(b"220 slow-sink ESMTP\r\n")
            await writer.drain()
            while True:
                line = await conn.line()
                if line is None:
                    break
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    writer.write(EHLO if verb == b"EHLO" else b"250 slow-sink\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 end with <CRLF>.<CRLF>\r\n")
                    await writer.drain()
                    if not await conn.message():
                        break
                    # The relay's time for the message: only this connection waits.
                    await asyncio.sleep(self.delay)
                    self.accepted()
                    writer.write(b"250 2.0.0 Ok: queued\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 2.0.0 Bye\r\n")
                    await writer.drain()
                    break
                else:
                    # MAIL, RCPT, RSET, NOOP and anything else: accepted.
                    writer.write(b"250 2.0.0 Ok\r\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def accepted(self):
        self.messages += 1
        if self.arrivals:
            self.arrivals.write(f"{int(time.time() * 1000)}\n")


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2626)
    p.add_argument("--delay-ms", type=float, default=50)
    p.add_argument("--arrivals", help="file to append each acceptance time (ms) to")
    args = p.parse_args()
    arrivals = open(args.arrivals, "a", buffering=1) if args.arrivals else None
    sink = Sink(args.delay_ms / 1000, arrivals)
    server = await asyncio.start_server(sink.session, args.host, args.port, backlog=256)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    print(f"sess={sink.sessions} mesg={sink.messages}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
