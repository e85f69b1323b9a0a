"""Deliberate practice with rupture clips: trainees watch a clip, respond to the camera, redo, and
send one attempt to their supervisor, who scores it on a rubric, writes or speaks feedback and may
rate the response moment to moment.

Modules: settings (options, rubric), db (SQLite schema and migrations), auth (passwords, one-time
links, sessions, CSRF, login rate limit), uploads (resumable chunked uploads, sniffing), media
(ffprobe/ffmpeg: clips in), records (queries), api and server (aiohttp routes), export (CSV).
"""
