"""Flask + PyJWT peer for bench/run.sh, served by gunicorn (see
gunicorn.conf.py): POST /auth/login and GET /auth/verify as Tessera answers
them."""

from flask import Flask, Response, jsonify, request

import common

app = Flask(__name__)


@app.post("/auth/login")
def login():
    tokens = common.login(request.get_json(silent=True))
    if tokens is None:
        return jsonify(error="invalid_credentials"), 401
    response = jsonify(tokens)
    response.headers["Cache-Control"] = "no-store"
    return response


@app.get("/auth/verify")
def verify():
    headers = common.verify(request.headers.get("Authorization"))
    if headers is None:
        return Response(status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return Response(status=200, headers=headers)


@app.get("/readyz")
def readyz():
    return Response(status=200)
