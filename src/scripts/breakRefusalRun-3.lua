--[[
Graph answered a write of the tenant other than with a 400: see includes/breakRefusalRun.lua (a success does this
inside recordOutcome-5.lua instead).
KEYS[1] the tenant's breaker hash, KEYS[2] the rows counted in the current run (SET), KEYS[3] the rows whose 400 was their own (SET)
ARGV[1] ttl (ms) of the "own" set
Returns: the number of rows moved
]]

--- @include "breakRefusalRun"

return breakRefusalRun(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
