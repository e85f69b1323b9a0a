"""The practice API over real HTTP: sign-in, CSRF, the upload protocol and its refusals, the review."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from microdial.errors import ConfigError
from microdial.practice import db
from microdial.practice.server import check_bind
from microdial.practice.settings import PracticeSettings
from tests.practice.conftest import PASSWORD, Folder, client, serving


async def test_sign_in_and_wrong_password(base: str) -> None:
    async with client(base, "tr1") as tr1:
        me = await tr1.get_json("/api/me")
        assert isinstance(me, dict) and me["code"] == "tr1" and me["role"] == "trainee"
    async with client(base, None) as anonymous:
        status, body = await anonymous.request(
            "POST", "/api/login", json={"code": "tr1", "password": "wrong password"},
            headers={"X-Requested-With": "microdial-practice"},
        )  # fmt: skip
        assert status == 401 and b"wrong code or password" in body


async def test_login_attempts_are_rate_limited(base: str) -> None:
    async with client(base, None) as guesser:
        statuses = []
        for _ in range(7):
            status, _ = await guesser.request(
                "POST", "/api/login", json={"code": "sup1", "password": "guess guess guess"},
                headers={"X-Requested-With": "microdial-practice"},
            )  # fmt: skip
            statuses.append(status)
        assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
        # Even the right password waits: the limit is on the code, not on wrong guesses only.
        status, body = await guesser.request(
            "POST", "/api/login", json={"code": "sup1", "password": PASSWORD},
            headers={"X-Requested-With": "microdial-practice"},
        )  # fmt: skip
        assert status == 429 and b"try again" in body


async def test_session_cookie_flags_and_csrf(base: str) -> None:
    async with client(base, None) as anonymous:
        async with anonymous.http.post(
            base + "/api/login", json={"code": "tr1", "password": PASSWORD},
            headers={"X-Requested-With": "microdial-practice"},
        ) as response:  # fmt: skip
            cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
        # Signed in, but a state change without the CSRF token (a cross-site form) is refused.
        status, body = await anonymous.request("POST", "/api/logout", json={})
        assert status == 403 and b"CSRF" in body
    async with client(base, None) as anonymous:
        status, _ = await anonymous.request("POST", "/api/login", json={"code": "tr1", "password": PASSWORD})
        assert status == 403


async def test_one_time_link(folder: Folder, base: str) -> None:
    from microdial.practice import auth

    database = db.connect(folder.data)
    token = auth.add_user(database, "tr3", "trainee", "sup1", invite_hours=1)
    database.close()
    async with client(base, None) as new:
        headers = {"X-Requested-With": "microdial-practice"}
        status, body = await new.request(
            "POST", "/api/welcome", json={"invite": token, "password": "short"}, headers=headers
        )
        assert status == 400 and b"at least 10" in body
        status, _ = await new.request(
            "POST",
            "/api/welcome",
            json={"invite": token, "password": "a good long password"},
            headers=headers,
        )
        assert status == 200
    async with client(base, None) as other:
        status, body = await other.request(
            "POST", "/api/welcome", json={"invite": token, "password": "another password!"}, headers=headers
        )
        assert status == 403 and b"used up" in body
    async with client(base, None) as again:
        await again.sign_in("tr3", "a good long password")


async def test_attempts_are_numbered_kept_and_intact(
    folder: Folder, base: str, response_bytes: bytes
) -> None:
    async with client(base, "tr1") as tr1:
        first = await tr1.upload(response_bytes, clip=folder.clip)
        second = await tr1.upload(response_bytes + bytes(100), clip=folder.clip, chunk=7_000)
        assert (first["number"], second["number"]) == (1, 2)
        assert first["sha256"] == hashlib.sha256(response_bytes).hexdigest()
        clip = await tr1.get_json(f"/api/clips/{folder.clip}")
        assert isinstance(clip, dict)
        assert [a["number"] for a in clip["attempts"]] == [1, 2]  # type: ignore[index]
        status, media = await tr1.request("GET", f"/media/attempt/{first['id']}")
        assert status == 200 and media == response_bytes
        # A media URL is a random id checked per request: no path into the data folder works.
        for probe in ("/media/attempt/..%2Fpractice.sqlite3", "/media/clip/1", "/media/attempt/1"):
            status, _ = await tr1.request("GET", probe)
            assert status in (403, 404)


async def test_non_media_and_oversized_uploads_refused(
    folder: Folder, base: str, response_bytes: bytes
) -> None:
    async with client(base, "tr1") as tr1:
        text = b"#!/bin/sh\necho this is not a recording\n" * 100
        status, body = await tr1.request(
            "POST",
            "/api/uploads",
            json={"purpose": "attempt", "clip": folder.clip, "size": len(text), "type": "video/webm"},
        )
        upload = json.loads(body)["id"]
        status, body = await tr1.request("PUT", f"/api/uploads/{upload}?offset=0", data=text)
        assert status == 415 and b"not audio or video" in body
        status, _ = await tr1.request("GET", f"/api/uploads/{upload}")
        assert status == 403  # gone
        # Declared over the limit (2 MB in this server): refused before a byte is sent.
        status, body = await tr1.request(
            "POST",
            "/api/uploads",
            json={"purpose": "attempt", "clip": folder.clip, "size": 3_000_000, "type": "video/webm"},
        )
        assert status == 413 and b"limit is 2 MB" in body
        # Declared small, sent large: cut off at the declared size.
        status, body = await tr1.request(
            "POST",
            "/api/uploads",
            json={"purpose": "attempt", "clip": folder.clip, "size": 1000, "type": "video/webm"},
        )
        upload = json.loads(body)["id"]
        status, body = await tr1.request("PUT", f"/api/uploads/{upload}?offset=0", data=response_bytes)
        assert status == 413
        status, body = await tr1.request(
            "POST",
            "/api/uploads",
            json={"purpose": "attempt", "clip": folder.clip, "size": 10, "type": "text/plain"},
        )
        assert status == 415
    database = sqlite3.connect(folder.data / db.DB_FILE)
    assert database.execute("SELECT COUNT(*) FROM attempts").fetchone() == (0,)


async def test_upload_cut_midway_resumes(folder: Folder, base: str, response_bytes: bytes) -> None:
    async with client(base, "tr1") as tr1:
        status, body = await tr1.request(
            "POST", "/api/uploads",
            json={"purpose": "attempt", "clip": folder.clip, "size": len(response_bytes), "type": "video/webm"},
        )  # fmt: skip
        upload = json.loads(body)["id"]
        cookie = "; ".join(f"{c.key}={c.value}" for c in tr1.http.cookie_jar)
        half = len(response_bytes) // 2
        await send_partial(base, f"/api/uploads/{upload}?offset=0", cookie, tr1.csrf, response_bytes, half)
        offset = await wait_for_offset(tr1, upload, half)
        assert 0 < offset <= half
        # Finishing an incomplete upload is refused and shows nothing.
        status, body = await tr1.request("POST", f"/api/uploads/{upload}/finish")
        assert status == 409 and b"resume first" in body
        status, body = await tr1.request("PUT", f"/api/uploads/{upload}?offset=0", data=response_bytes)
        assert status == 409 and f"resume at offset {offset}".encode() in body
        status, body = await tr1.request(
            "PUT", f"/api/uploads/{upload}?offset={offset}", data=response_bytes[offset:]
        )
        assert status == 200
        status, body = await tr1.request("POST", f"/api/uploads/{upload}/finish")
        assert status == 200 and json.loads(body)["sha256"] == hashlib.sha256(response_bytes).hexdigest()


async def send_partial(base: str, path: str, cookie: str, csrf: str, body: bytes, count: int) -> None:
    """A PUT that declares the whole body, sends `count` bytes of it and drops the connection."""
    url = urlsplit(base)
    _, writer = await asyncio.open_connection(url.hostname, url.port)
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: {url.netloc}\r\nCookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n"
        f"Content-Length: {len(body)}\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    writer.write(head.encode() + body[:count])
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.transport.abort()


async def wait_for_offset(user: object, upload: str, at_most: int) -> int:
    from tests.practice.conftest import Client

    assert isinstance(user, Client)
    for _ in range(50):
        status, body = await user.request("GET", f"/api/uploads/{upload}")
        assert status == 200
        offset = int(json.loads(body)["offset"])
        if offset > 0:
            return offset
        await asyncio.sleep(0.1)
    return 0


async def test_tls_and_exposure(folder: Folder, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-days", "1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    async with serving(folder.data, cert=cert, key=key) as base:
        https = base.replace("http://", "https://")
        async with aiohttp.ClientSession() as http, http.post(
            https + "/api/login", json={"code": "tr1", "password": PASSWORD},
            headers={"X-Requested-With": "microdial-practice"}, ssl=False,
        ) as response:  # fmt: skip
            assert response.status == 200 and "Secure" in response.headers["Set-Cookie"]
    with pytest.raises(ConfigError, match="--behind-tls-proxy"):
        check_bind(PracticeSettings.model_validate(dict(bind="0.0.0.0")))
    check_bind(PracticeSettings.model_validate(dict(bind="0.0.0.0", behind_tls_proxy=True)))
    check_bind(PracticeSettings.model_validate(dict(bind="0.0.0.0", cert=cert, key=key)))


async def test_one_address_trying_many_codes_is_limited(base: str) -> None:
    async with client(base, None) as guesser:
        statuses = []
        for number in range(21):
            status, _ = await guesser.request(
                "POST", "/api/login", json={"code": f"user{number}", "password": "guess guess guess"},
                headers={"X-Requested-With": "microdial-practice"},
            )  # fmt: skip
            statuses.append(status)
        assert statuses[:20] == [401] * 20 and statuses[20] == 429


async def test_finishing_twice_at_once_makes_one_attempt(
    folder: Folder, base: str, response_bytes: bytes
) -> None:
    async with client(base, "tr1") as tr1:
        status, body = await tr1.request(
            "POST", "/api/uploads",
            json={"purpose": "attempt", "clip": folder.clip, "size": len(response_bytes), "type": "video/webm"},
        )  # fmt: skip
        upload = json.loads(body)["id"]
        status, _ = await tr1.request("PUT", f"/api/uploads/{upload}?offset=0", data=response_bytes)
        assert status == 200
        finishes = await asyncio.gather(
            *(tr1.request("POST", f"/api/uploads/{upload}/finish") for _ in range(3))
        )
        assert sorted(status for status, _ in finishes) in ([200, 403, 403], [200, 403, 409], [200, 409, 409])
        clip = await tr1.get_json(f"/api/clips/{folder.clip}")
        assert isinstance(clip, dict) and len(clip["attempts"]) == 1  # type: ignore[arg-type]
