-- aigw benchmark: wrk script.
--   wrk ... -s bench/post.lua URL -- REQUEST_BODY_FILE GATEWAY_KEY
-- POSTs the chat completion in REQUEST_BODY_FILE with the gateway key.

function init(args)
   local f = assert(io.open(args[1], "rb"))
   wrk.method = "POST"
   wrk.body = f:read("*a")
   f:close()
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["Authorization"] = "Bearer " .. args[2]
end
