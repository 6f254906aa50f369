-- POST /auth/login, cycling through $USERS bench users (bench-user-0000000 …)
-- so that no server serializes on one account; every login is a full
-- Argon2id verification. $USER_OFFSET shifts the first user.
local users = tonumber(os.getenv("USERS") or "64")
local offset = tonumber(os.getenv("USER_OFFSET") or "0")
local password = os.getenv("PASSWORD")
local n = 0
request = function()
  local name = string.format("bench-user-%07d", offset + (n % users))
  n = n + 1
  return wrk.format("POST", "/auth/login", {["Content-Type"] = "application/json"},
    '{"username":"' .. name .. '","password":"' .. password .. '"}')
end
