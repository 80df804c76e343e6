package apply

import (
	"strconv"
	"time"

	"github.com/keyjob/keyjob/internal/journal"
)

// undoFieldsScript puts back the fields a field record changed, each only
// while it is as keyjob left it: a field given an expiry gets its previous
// one back (HPERSIST, or HPEXPIREAT) while it still has keyjob's; a field
// persisted gets its expiry back while it still has none; a deleted field,
// or a grace field the server deleted, is added back with its value and
// expiry while it is absent (when the journal has its value). A hash the
// deletes emptied (the server deleted it) is created again with the key's
// previous expiry. A key of another type now is left alone. It returns how
// many fields it put back.
// ARGV: action, now ms, the key's previous expiry ms (-1 none), then per
// field: name, previous expiry ms (-1 none), keyjob's expiry ms (0 none),
// 1 when a value follows else 0, the value.
const undoFieldsScript = `#!lua flags=allow-oom
local k = KEYS[1]
local action, now, kprev = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TYPE', k)['ok']
if t ~= 'hash' and t ~= 'none' then return 0 end
local names = {}
for i = 4, #ARGV, 5 do names[#names + 1] = ARGV[i] end
local cur = {}
if t == 'hash' then cur = redis.call('HPEXPIRETIME', k, 'FIELDS', #names, unpack(names)) end
local persist, set, prevs, byPrev = {}, {}, {}, {}
local n = 0
for j = 1, #names do
  local i = 4 + 5 * (j - 1)
  local f, prev, new, c = names[j], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), cur[j] or -2
  local back = false
  if c == -2 then
    if action ~= 'field-persist' and ARGV[i + 3] == '1' then
      set[#set + 1] = f
      set[#set + 1] = ARGV[i + 4]
      back = prev ~= -1
      n = n + 1
    end
  elseif (action == 'field-expire' and c == new) or (action == 'field-persist' and c == -1) then
    if prev == -1 then persist[#persist + 1] = f else back = true end
    n = n + 1
  end
  if back then
    if not byPrev[prev] then
      byPrev[prev] = {}
      prevs[#prevs + 1] = prev
    end
    local l = byPrev[prev]
    l[#l + 1] = f
  end
end
if #set > 0 then redis.call('HSET', k, unpack(set)) end
if #persist > 0 then redis.call('HPERSIST', k, 'FIELDS', #persist, unpack(persist)) end
for _, prev in ipairs(prevs) do
  local l = byPrev[prev]
  redis.call('HPEXPIREAT', k, prev, 'FIELDS', #l, unpack(l))
end
if t == 'none' and n > 0 and kprev ~= -1 then redis.call('PEXPIREAT', k, kprev) end
return n
`

// fieldArgs are the undo fields script's arguments for one field record.
func fieldArgs(rec journal.Record, now time.Time) []string {
	args := make([]string, 0, 3+5*len(rec.Fields))
	args = append(args, rec.Action, strconv.FormatInt(now.UnixMilli(), 10), strconv.FormatInt(rec.PrevExpireMs, 10))
	for _, f := range rec.Fields {
		has := "0"
		if f.HasValue {
			has = "1"
		}
		args = append(args, f.Name, strconv.FormatInt(f.PrevMs, 10), strconv.FormatInt(f.NewMs, 10), has, f.Value)
	}
	return args
}

// fieldsUndone turns the script's count of fields put back into a
// record's outcome.
func fieldsUndone(n int64) int64 {
	if n > 0 {
		return undoRestored
	}
	return undoLeftAlone
}
