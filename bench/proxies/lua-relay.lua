-- A frame-aware WebSocket relay on nginx's Lua module: completes the
-- handshake with the client, opens a WebSocket to the backend and relays
-- frames both ways with two light threads.
--
-- The backend's address comes from "set $ws_backend host:port".

local server = require "nginx.websocket.server"
local client = require "nginx.websocket.client"

local opcodes = {
    continuation = 0x0, text = 0x1, binary = 0x2,
    close = 0x8, ping = 0x9, pong = 0xa,
}

local max_payload = 64 * 1024 * 1024
local timeout = 3600 * 1000

local up = client:new{ timeout = timeout, max_payload_len = max_payload }
local ok, err = up:connect("ws://" .. ngx.var.ws_backend
                           .. ngx.var.request_uri)
if not ok then
    ngx.log(ngx.ERR, "backend: ", err)
    return ngx.exit(502)
end

local down, err = server:new{ timeout = timeout,
                              max_payload_len = max_payload }
if not down then
    ngx.log(ngx.ERR, "handshake: ", err)
    up:close()
    return ngx.exit(400)
end

-- from: recv_frame side, to: send_frame side; returns true when it
-- relayed a close frame, and the direction's name
local function relay(from, to, name)
    while true do
        local data, typ, err = from:recv_frame()

        if not data then
            return false, name
        end

        if typ == "close" then
            -- err holds the status code of a close frame
            if err then
                to:send_close(err, data)
            else
                to:send_close()
            end
            return true, name
        end

        local fin = err ~= "again"
        local bytes = to:send_frame(fin, opcodes[typ], data)
        if not bytes then
            return false, name
        end
    end
end

local up_thread = ngx.thread.spawn(relay, up, down, "up")
local down_thread = ngx.thread.spawn(relay, down, up, "down")

local _, closed, first = ngx.thread.wait(up_thread, down_thread)

if closed then
    -- the other direction carries the close reply
    ngx.thread.wait(first == "up" and down_thread or up_thread)
else
    ngx.thread.kill(up_thread)
    ngx.thread.kill(down_thread)
end

up:close()
ngx.exit(ngx.OK)
