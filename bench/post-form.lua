-- wrk script: every request is a POST with this form body (the headers given with -H, such as
-- Authorization and Content-Type, are kept).
--
--   wrk ... -s bench/post-form.lua URL -- '<urlencoded body>'
--
-- wrk.init calls this init and then formats the request once, so the body costs the load core
-- nothing per request (no request() function: the request stays static).

function init(args)
  if args[1] == nil or #args[1] == 0 then error("post-form.lua: no body given after --") end
  wrk.method = "POST"
  wrk.body = args[1]
end
