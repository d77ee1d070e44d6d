"""A small Hub-compatible HTTP server for tests: enough of the Hugging Face Hub API for the real
``huggingface_hub`` client to create a dataset repo, commit files, tag, list refs and trees, and
download files (HEAD/GET ``resolve`` with ETag, ``X-Repo-Commit`` and byte ranges).

Repos live in memory as immutable commits (path -> bytes). Faults can be injected to test the
client side: a connection dropped mid-body, corrupted bodies, failed commit or tag requests.
Only regular (inline base64) uploads are accepted, as the real Hub does for small files; the
preupload answer always says ``regular`` so the client never takes the LFS/Xet path.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

#: Token and repo the tests publish with.
TOKEN = "hf_test_token"
REPO = "test-org/hr-gldd"

_API = re.compile(
    r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)/(refs|revision|tree|paths-info|preupload|commit|tag)(?:/(.*))?$"
)
_RESOLVE = re.compile(r"^/(datasets|spaces)?/?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


def git_blob_oid(content: bytes) -> str:
    """The git object id of a blob, as the Hub reports for regular (non-LFS) files."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Commit:
    sha: str
    parent: str | None
    files: dict[str, bytes]
    title: str


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    tag_messages: dict[str, str] = field(default_factory=dict)

    def resolve(self, rev: str) -> Commit | None:
        sha = self.branches.get(rev) or self.tags.get(rev) or (rev if rev in self.commits else None)
        return self.commits.get(sha) if sha else None


@dataclass
class Faults:
    """Faults to inject; each counter is consumed as the fault fires."""

    drop_after: dict[str, int] = field(
        default_factory=dict
    )  # path -> bytes sent before the connection drops (once)
    corrupt: dict[str, int] = field(
        default_factory=dict
    )  # path -> how many GETs serve a corrupted body
    fail_commit: int = 0  # commits answered 400 before any change
    fail_tag: int = 0  # tag requests answered 500 before any change


class HubState:
    """Everything the server holds; tests read it to assert what happened."""

    def __init__(self, tokens: set[str]) -> None:
        self.tokens = tokens
        self.repos: dict[str, Repo] = {}
        self.faults = Faults()
        self.requests: list[
            tuple[str, str, dict[str, str]]
        ] = []  # (method, path, selected headers)
        self.lock = threading.Lock()
        self._counter = 0

    def new_sha(self, seed: str) -> str:
        self._counter += 1
        return hashlib.sha1(f"{seed}:{self._counter}".encode()).hexdigest()

    def commit_count(self, repo_id: str) -> int:
        return len(self.repos[f"datasets/{repo_id}"].commits)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    # -- plumbing ------------------------------------------------------------------------------
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass

    @property
    def state(self) -> HubState:
        return self.server.state

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        payload=None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> None:
        if body is None:
            body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str | None, message: str) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, {"error": message}, headers)

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        if token in self.state.tokens:
            return True
        self._error(401, None, "Invalid credentials in Authorization header")
        return False

    def _record(self) -> None:
        keep = {k: v for k, v in self.headers.items() if k.lower() in ("range", "authorization")}
        if "Authorization" in keep:
            keep["Authorization"] = "<redacted>"
        with self.state.lock:
            self.state.requests.append((self.command, self.path, keep))

    # -- dispatch ------------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        self._record()
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        body = self._body() if self.command == "POST" else b""
        if url.path == "/api/repos/create" and self.command == "POST":
            return self._create_repo(json.loads(body or b"{}"))
        if url.path == "/api/validate-yaml" and self.command == "POST":
            return self._validate_yaml(json.loads(body or b"{}"))
        if match := _API.match(url.path):
            kind, repo_id, action, rest = match.groups()
            repo = self.state.repos.get(f"{kind}/{repo_id}")
            if repo is None:
                return self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
            return getattr(self, "_" + action.replace("-", "_"))(repo, rest or "", query, body)
        if match := _RESOLVE.match(url.path):
            prefix, repo_id, rev, path = match.groups()
            kind = prefix or "models"
            repo = self.state.repos.get(f"{kind}/{repo_id}")
            if repo is None:
                return self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
            return self._resolve(repo, unquote(rev), unquote(path))
        self._error(404, None, f"no such endpoint {self.command} {url.path}")

    # -- writes ---------------------------------------------------------------------------------
    def _create_repo(self, payload: dict) -> None:
        if not self._authorized():
            return
        kind = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or 'user'}/{payload['name']}"
        key = f"{kind}s/{repo_id}"
        url = (
            f"http://{self.headers['Host']}/{kind}s/{repo_id}"
            if kind != "model"
            else f"http://{self.headers['Host']}/{repo_id}"
        )
        with self.state.lock:
            if key in self.state.repos:
                return self._send(409, {"error": "You already created this repo", "url": url})
            repo = Repo(repo_id, kind)
            sha = self.state.new_sha(repo_id)
            repo.commits[sha] = Commit(
                sha,
                None,
                {".gitattributes": b"*.zst filter=lfs diff=lfs merge=lfs -text\n"},
                "initial commit",
            )
            repo.branches["main"] = sha
            self.state.repos[key] = repo
        self._send(200, {"url": url, "name": repo_id})

    def _validate_yaml(self, payload: dict) -> None:
        content = payload.get("content", "")
        if content.startswith("---"):
            try:
                yaml.safe_load(content.split("---", 2)[1])
            except yaml.YAMLError as err:
                return self._send(400, {"error": f"Invalid YAML: {err}"})
        self._send(200, {"errors": [], "warnings": []})

    def _preupload(self, repo: Repo, rev: str, query, body: bytes) -> None:
        if not self._authorized():
            return
        head = repo.resolve(unquote(rev))
        if head is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        files = json.loads(body)["files"]
        answer = [
            {
                "path": f["path"],
                "uploadMode": "regular",
                "shouldIgnore": False,
                "oid": git_blob_oid(head.files[f["path"]]) if f["path"] in head.files else None,
            }
            for f in files
        ]
        self._send(200, {"files": answer, "commitOid": head.sha})

    def _commit(self, repo: Repo, rev: str, query, body: bytes) -> None:
        if not self._authorized():
            return
        branch = unquote(rev)
        with self.state.lock:
            if self.state.faults.fail_commit > 0:
                self.state.faults.fail_commit -= 1
                return self._error(400, None, "simulated upload failure")
            if branch not in repo.branches:
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {branch}")
            head = repo.commits[repo.branches[branch]]
            files = dict(head.files)
            title = ""
            for line in body.splitlines():
                if not line.strip():
                    continue
                item = json.loads(line)
                key, value = item["key"], item["value"]
                if key == "header":
                    title = value["summary"]
                    if value.get("parentCommit") and value["parentCommit"] != head.sha:
                        return self._error(412, None, "parent commit is not the branch head")
                elif key == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                elif key == "deletedFile":
                    if value["path"] not in files:
                        return self._error(
                            404, "EntryNotFound", "A file with this name doesn't exist"
                        )
                    del files[value["path"]]
                elif key == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    files = {p: c for p, c in files.items() if not p.startswith(prefix)}
                else:
                    return self._error(
                        400, None, f"this test server does not accept {key!r} operations"
                    )
            sha = self.state.new_sha(repo.repo_id)
            repo.commits[sha] = Commit(sha, head.sha, files, title)
            repo.branches[branch] = sha
        host = self.headers["Host"]
        self._send(
            200,
            {
                "commitUrl": f"http://{host}/{repo.repo_type}s/{repo.repo_id}/commit/{sha}",
                "commitOid": sha,
                "success": True,
            },
        )

    def _tag(self, repo: Repo, rev: str, query, body: bytes) -> None:
        if not self._authorized():
            return
        payload = json.loads(body)
        with self.state.lock:
            if self.state.faults.fail_tag > 0:
                self.state.faults.fail_tag -= 1
                return self._error(500, None, "simulated tag failure")
            commit = repo.resolve(unquote(rev))
            if commit is None:
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            if payload["tag"] in repo.tags:
                return self._error(409, None, f"Tag {payload['tag']} already exists")
            repo.tags[payload["tag"]] = commit.sha
            repo.tag_messages[payload["tag"]] = payload.get("message", "")
        self._send(200, {})

    # -- reads ----------------------------------------------------------------------------------
    def _refs(self, repo: Repo, rest: str, query, body: bytes) -> None:
        def ref(name: str, kind: str, sha: str) -> dict:
            return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": sha}

        self._send(
            200,
            {
                "branches": [ref(n, "heads", s) for n, s in repo.branches.items()],
                "tags": [ref(n, "tags", s) for n, s in repo.tags.items()],
                "converts": [],
            },
        )

    def _revision(self, repo: Repo, rest: str, query, body: bytes) -> None:
        commit = repo.resolve(unquote(rest))
        if commit is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rest}")
        self._send(
            200,
            {
                "id": repo.repo_id,
                "sha": commit.sha,
                "private": False,
                "siblings": [{"rfilename": p} for p in sorted(commit.files)],
            },
        )

    @staticmethod
    def _entries(commit: Commit, prefix: str, recursive: bool) -> list[dict]:
        prefix = prefix.strip("/")
        entries, folders = [], set()
        for path in sorted(commit.files):
            if prefix and not path.startswith(prefix + "/"):
                continue
            rel = path[len(prefix) + 1 :] if prefix else path
            parts = rel.split("/")
            base = f"{prefix}/" if prefix else ""
            for depth in range(1, len(parts)):
                if recursive or depth == 1:
                    folders.add(base + "/".join(parts[:depth]))
            if recursive or len(parts) == 1:
                content = commit.files[path]
                entries.append(
                    {
                        "type": "file",
                        "oid": git_blob_oid(content),
                        "size": len(content),
                        "path": path,
                    }
                )
        entries += [
            {"type": "directory", "oid": hashlib.sha1(f.encode()).hexdigest(), "path": f}
            for f in sorted(folders)
        ]
        return entries

    def _tree(self, repo: Repo, rest: str, query, body: bytes) -> None:
        rev, _, path = rest.partition("/")
        commit = repo.resolve(unquote(rev))
        if commit is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        path = unquote(path)
        if (
            path
            and path not in commit.files
            and not any(p.startswith(path.strip("/") + "/") for p in commit.files)
        ):
            return self._error(404, "EntryNotFound", f"{path} does not exist at {rev}")
        self._send(200, self._entries(commit, path, recursive))

    def _paths_info(self, repo: Repo, rest: str, query, body: bytes) -> None:
        commit = repo.resolve(unquote(rest))
        if commit is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rest}")
        form = parse_qs(body.decode())
        wanted = form.get("paths", [])
        everything = self._entries(commit, "", True)
        self._send(200, [e for e in everything if e["path"] in wanted])

    def _resolve(self, repo: Repo, rev: str, path: str) -> None:
        commit = repo.resolve(rev)
        if commit is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        if path not in commit.files:
            return self._error(404, "EntryNotFound", f"{path} does not exist at {rev}")
        content = commit.files[path]
        faults = self.state.faults
        headers = {
            "X-Repo-Commit": commit.sha,
            "ETag": f'"{git_blob_oid(content)}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if self.command == "HEAD":
            self.send_response(200)
            headers["Content-Length"] = str(len(content))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            return
        with self.state.lock:
            if faults.corrupt.get(path, 0) > 0:
                faults.corrupt[path] -= 1
                content = bytes([content[0] ^ 0xFF]) + content[1:]
            drop = faults.drop_after.pop(path, None)
        status, start = 200, 0
        if match := re.match(r"bytes=(\d+)-$", self.headers.get("Range", "")):
            start = int(match.group(1))
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
        part = content[start:]
        self.send_response(status)
        headers["Content-Length"] = str(len(part))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if drop is not None:
            self.wfile.write(part[:drop])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(part)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: HubState


class HubServer:
    """Run the fake Hub on ``127.0.0.1`` on a free port in a background thread.

    Use as a context manager; ``endpoint`` is what ``HF_ENDPOINT`` should point at.
    """

    def __init__(self, tokens: set[str] | None = None) -> None:
        self.state = HubState(tokens or {"hf_test_token"})
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def files(self, repo_id: str, rev: str = "main", kind: str = "datasets") -> dict[str, bytes]:
        """The files of a repo at a revision (a test helper, not an endpoint)."""
        commit = self.state.repos[f"{kind}/{repo_id}"].resolve(rev)
        assert commit is not None, f"no revision {rev} in {repo_id}"
        return commit.files

    def replace_file(self, repo_id: str, rev: str, path: str, content: bytes) -> None:
        """Change a file in place at ``rev`` (simulates storage corruption on the server)."""
        self.files(repo_id, rev)[path] = content
