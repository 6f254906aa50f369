"""FastAPI + PyJWT peer for bench/run.sh, served by uvicorn (uvloop and
httptools, one worker per core, no access log): POST /auth/login and
GET /auth/verify as Tessera answers them. The login handler is a plain `def`
so FastAPI runs the Argon2id verification in its thread pool, off the event
loop, as FastAPI's documentation advises for blocking work."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

import common

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/auth/login")
def login(body: dict):
    tokens = common.login(body)
    if tokens is None:
        return JSONResponse({"error": "invalid_credentials"}, status_code=401)
    return JSONResponse(tokens, headers={"Cache-Control": "no-store"})


@app.get("/auth/verify")
async def verify(request: Request):
    headers = common.verify(request.headers.get("authorization"))
    if headers is None:
        return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return Response(status_code=200, headers=headers)


@app.get("/readyz")
async def readyz():
    return Response(status_code=200)
