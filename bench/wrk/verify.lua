-- GET with the bearer token in $TOKEN (for /auth/verify and GET /users).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
