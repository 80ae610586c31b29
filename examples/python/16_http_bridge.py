"""HTTP server with future-based request handling (seed 003): a server thread
accepts GET /request/<id> and starts a handler on the event loop with
run_coroutine_threadsafe, answering 202 at once; the handler awaits a future
under wait_for. GET /response/<id>?text=... resolves that future from the
server thread with call_soon_threadsafe (404 for an unknown id), GET
/cancel/<id> withdraws a request and GET /shutdown stops the server. A shared
map of futures is guarded by a lock.

The server binds 127.0.0.1 on an ephemeral port and prints it; its client is
examples/drivers/16_http_bridge.sh. It logs each request it serves, in the
order it serves them, and once every handler has ended it prints their
outcomes sorted by request id."""
import asyncio
import threading
from http.server import BaseHTTPRequestHandler
from socketserver import TCPServer
from urllib.parse import parse_qs, urlsplit

import xfutures.asyncio as xa

DEFAULT_TIMEOUT = 300  # seconds, as in the seed

# The response futures of the requests still waiting, by request id.
request_futures = {}
request_futures_lock = threading.Lock()
outcomes = {}  # request id -> outcome; written on the loop only
handlers = []  # the handler tasks; on the loop only


async def handle_request(request_id, future, timeout):
    """Suspended until the request's future is resolved, cancelled or timed out."""
    try:
        result = await xa.wait_for(future, timeout)
        outcomes[request_id] = f"completed with: {result}"
    except asyncio.TimeoutError:
        outcomes[request_id] = "timed out"
    except asyncio.CancelledError:
        outcomes[request_id] = "was cancelled"
    finally:
        with request_futures_lock:
            request_futures.pop(request_id, None)


async def start_handler(request_id, timeout):
    """On the loop: the request's future, in the map before its handler
    starts (so that the handler's cleanup comes after), and the handler."""
    future = xa.Future()
    with request_futures_lock:
        request_futures[request_id] = future
    handlers.append(asyncio.create_task(handle_request(request_id, future, timeout)))


class RequestHandler(BaseHTTPRequestHandler):
    def reply(self, status, text):
        print(f"GET {self.path} -> {status} {text}")
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlsplit(self.path)
        parts = url.path.split("/")
        query = parse_qs(url.query)
        loop = self.server.loop
        if len(parts) == 3 and parts[1] == "request":
            request_id = parts[2]
            timeout = int(query.get("timeout_ms", [DEFAULT_TIMEOUT * 1000])[0]) / 1000
            # The future exists and is in the map before the client hears 202.
            asyncio.run_coroutine_threadsafe(start_handler(request_id, timeout), loop).result()
            self.reply(202, "Request accepted")
        elif len(parts) == 3 and parts[1] in ("response", "cancel"):
            # Taken out of the map, so that a second answer finds nothing.
            with request_futures_lock:
                future = request_futures.pop(parts[2], None)
            if future is None:
                self.reply(404, "Request not found")
            elif parts[1] == "response":
                text = query.get("text", [""])[0]
                loop.call_soon_threadsafe(future.set_result, text)
                self.reply(200, "Response delivered")
            else:
                loop.call_soon_threadsafe(future.cancel)
                self.reply(200, "Request cancelled")
        elif url.path == "/shutdown":
            self.server.stopping = True
            self.reply(200, "Shutting down")
        else:
            self.reply(404, "Unknown path")

    def log_message(self, format, *args):
        pass  # the replies are logged by reply()


def run_server(server, stopped):
    """The server thread: one request at a time until GET /shutdown."""
    while not server.stopping:
        server.handle_request()
    server.server_close()
    server.loop.call_soon_threadsafe(stopped.set_result, None)


async def main():
    server = TCPServer(("127.0.0.1", 0), RequestHandler)
    server.loop = asyncio.get_running_loop()
    server.stopping = False
    print(f"Serving on http://127.0.0.1:{server.server_address[1]}/", flush=True)
    stopped = xa.Future()
    thread = threading.Thread(target=run_server, args=(server, stopped))
    thread.start()
    await stopped
    # Every handler ends by itself now: resolved, cancelled or timed out.
    await asyncio.gather(*handlers)
    thread.join()
    for request_id in sorted(outcomes):
        print(f"Request {request_id} {outcomes[request_id]}")
    counts = [sum(o.startswith(k) for o in outcomes.values())
              for k in ("completed", "timed out", "was cancelled")]
    print("Server stopped: {} completed, {} timed out, {} cancelled".format(*counts))


if __name__ == "__main__":
    asyncio.run(main())
