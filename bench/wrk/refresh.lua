-- POST /auth/refresh with rotation: refresh tokens are single-use, so each
-- request takes a token from a queue (filled from $REFRESH_TOKENS, one per
-- line, at least one per connection) and each answer puts its new refresh
-- token back. Every request therefore presents a fresh, valid token.
local queue, head, tail = {}, 1, 0
for line in io.lines(os.getenv("REFRESH_TOKENS")) do
  tail = tail + 1
  queue[tail] = line
end
local headers = {["Content-Type"] = "application/json"}
request = function()
  local token = "empty-queue"
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  end
  return wrk.format("POST", "/auth/refresh", headers, '{"refresh_token":"' .. token .. '"}')
end
response = function(status, headers, body)
  local token = body and string.match(body, '"refresh_token":"([^"]+)"')
  if token then
    tail = tail + 1
    queue[tail] = token
  end
end
