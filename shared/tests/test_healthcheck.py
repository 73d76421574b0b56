"""The containers' HEALTHCHECK: which command has a server to ask, and the answer it gets."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from mlcraft.healthcheck import health_url, healthy, main
from mlcraft.loadtest import free_port

SERVE = ["python", "-m", "toy", "serve", "--model", "runs/toy/r1"]


@pytest.mark.parametrize(
    ("argv", "url"),
    [
        (SERVE, "http://127.0.0.1:8000/health"),
        ([*SERVE, "--host", "0.0.0.0", "--port", "9000", ""], "http://127.0.0.1:9000/health"),
        (["/sbin/docker-init", "--", *SERVE, "--port=8123"], "http://127.0.0.1:8123/health"),
        ([*SERVE, "--host", "::1"], "http://[::1]:8000/health"),
        (["python", "-m", "toy", "train", "--config", "serve"], None),
        (["python", "-m", "toy"], None),
        (["sh", "-c", "serve"], None),
    ],
)
def test_only_a_serve_command_has_a_health_url(argv, url):
    assert health_url(argv) == url


class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_healthy_only_on_a_200(server, capsys):
    assert healthy(f"{server}/health")
    assert not healthy(f"{server}/other")
    assert not healthy(f"http://127.0.0.1:{free_port()}/health")  # nothing listening
    assert capsys.readouterr().err.count("unhealthy:") == 2


def test_main_reads_the_container_command(tmp_path, server):
    cmdline = tmp_path / "cmdline"
    port = server.rsplit(":", 1)[1]
    for argv, code in (
        ([*SERVE, "--port", port], 0),
        ([*SERVE, "--port", str(free_port())], 1),
        (["python", "-m", "toy", "train", "--config", "c.yaml"], 0),  # no server: nothing to ask
    ):
        cmdline.write_bytes("\0".join(argv).encode() + b"\0")
        assert main(cmdline) == code
