#!/usr/bin/python3
"""The desktop's side of a tray icon, for the E2E tests (Debian's python3-dbus,
python3-gi and python3-xlib; run with /usr/bin/python3).

  tray_host.py watch
      Owns org.kde.StatusNotifierWatcher on the session bus (as a desktop
      panel does), so libayatana-appindicator registers the app's
      StatusNotifierItem with it. Prints one JSON line per event on stdout
      ({"ready": true}, {"registered": …}) and answers one JSON command per
      stdin line:
        {"cmd": "state"}                  the item's properties and its menu
        {"cmd": "click", "label": "…"}    a dbusmenu "clicked" on that item
      with one JSON line ({"ok": …} or {"error": "…"}).

  tray_host.py close-window <title>
      Asks every top-level X window titled <title> to close the way a window
      manager does when its close button is clicked (WM_DELETE_WINDOW).
"""

import json
import sys


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def plain(value):
    """D-Bus values as plain JSON."""
    import dbus

    if isinstance(value, (dbus.String, dbus.ObjectPath, str)):
        return str(value)
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, (dbus.Byte,)):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, dbus.Array) and value.signature == "y":
        return len(value)  # pixmap bytes: only how many
    if isinstance(value, (dbus.Array, list, dbus.Struct, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (dbus.Dictionary, dict)):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)


WATCHER_XML = """
<node>
  <interface name="org.kde.StatusNotifierWatcher">
    <method name="RegisterStatusNotifierItem"><arg type="s" direction="in"/></method>
    <method name="RegisterStatusNotifierHost"><arg type="s" direction="in"/></method>
    <property name="RegisteredStatusNotifierItems" type="as" access="read"/>
    <property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
    <property name="ProtocolVersion" type="i" access="read"/>
    <signal name="StatusNotifierItemRegistered"><arg type="s"/></signal>
    <signal name="StatusNotifierItemUnregistered"><arg type="s"/></signal>
    <signal name="StatusNotifierHostRegistered"/>
  </interface>
</node>
"""


def watch():
    import dbus
    import dbus.service
    from dbus.mainloop.glib import DBusGMainLoop
    from gi.repository import GLib

    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    items = []  # (bus name, object path)
    # Whether a panel shows the icons; "drop-host" plays a desktop without one.
    host = {"registered": True}

    class Watcher(dbus.service.Object):
        @dbus.service.method(
            "org.kde.StatusNotifierWatcher", in_signature="s", sender_keyword="sender"
        )
        def RegisterStatusNotifierItem(self, service, sender=None):
            # An object path (libayatana) names an object of the sender; a
            # bus name names its /StatusNotifierItem.
            if service.startswith("/"):
                item = (str(sender), str(service))
            else:
                item = (str(service), "/StatusNotifierItem")
            if item not in items:
                items.append(item)
            self.StatusNotifierItemRegistered("%s%s" % item)
            out({"registered": {"service": item[0], "path": item[1]}})

        @dbus.service.method("org.kde.StatusNotifierWatcher", in_signature="s")
        def RegisterStatusNotifierHost(self, service):
            pass

        @dbus.service.signal("org.kde.StatusNotifierWatcher", signature="s")
        def StatusNotifierItemRegistered(self, item):
            pass

        @dbus.service.signal("org.kde.StatusNotifierWatcher", signature="s")
        def StatusNotifierItemUnregistered(self, item):
            pass

        @dbus.service.method(
            dbus.PROPERTIES_IFACE, in_signature="ss", out_signature="v"
        )
        def Get(self, interface, prop):
            return self.GetAll(interface)[prop]

        @dbus.service.method(
            dbus.PROPERTIES_IFACE, in_signature="s", out_signature="a{sv}"
        )
        def GetAll(self, interface):
            return {
                "RegisteredStatusNotifierItems": dbus.Array(
                    ["%s%s" % i for i in items], signature="s"
                ),
                "IsStatusNotifierHostRegistered": dbus.Boolean(host["registered"]),
                "ProtocolVersion": dbus.Int32(0),
            }

        @dbus.service.method(
            "org.freedesktop.DBus.Introspectable", out_signature="s"
        )
        def Introspect(self):
            return WATCHER_XML

    def owner_changed(name, old, new):
        gone = [i for i in items if i[0] == name and not new]
        for i in gone:
            items.remove(i)
            out({"unregistered": {"service": i[0], "path": i[1]}})

    bus.add_signal_receiver(
        owner_changed,
        signal_name="NameOwnerChanged",
        dbus_interface="org.freedesktop.DBus",
    )
    name = dbus.service.BusName("org.kde.StatusNotifierWatcher", bus, do_not_queue=True)
    Watcher(bus, "/StatusNotifierWatcher")

    def state():
        if not items:
            raise RuntimeError("no item registered")
        service, path = items[-1]
        obj = bus.get_object(service, path)
        props = plain(
            obj.GetAll("org.kde.StatusNotifierItem", dbus_interface=dbus.PROPERTIES_IFACE)
        )
        menu_path = props.get("Menu")
        menu = []
        if menu_path:
            m = bus.get_object(service, menu_path)
            _rev, layout = m.GetLayout(0, -1, [], dbus_interface="com.canonical.dbusmenu")

            def walk(node):
                node_id, node_props, children = node
                for child in children:
                    cid, cprops, _ = child
                    cprops = plain(cprops)
                    menu.append(
                        {
                            "id": int(cid),
                            "type": cprops.get("type", "standard"),
                            "label": cprops.get("label", ""),
                            "enabled": cprops.get("enabled", True),
                            "visible": cprops.get("visible", True),
                        }
                    )
                    walk(child)

            walk(layout)
        return {"service": service, "path": path, "properties": props, "menu": menu}

    def click(label):
        st = state()
        found = [m for m in st["menu"] if m["label"].replace("_", "") == label]
        if not found:
            raise RuntimeError("no menu item %r in %r" % (label, [m["label"] for m in st["menu"]]))
        m = bus.get_object(st["service"], st["properties"]["Menu"])
        m.Event(
            dbus.Int32(found[0]["id"]),
            "clicked",
            dbus.Int32(0, variant_level=1),
            dbus.UInt32(0),
            dbus_interface="com.canonical.dbusmenu",
        )
        return found[0]

    def on_stdin(source, _condition):
        line = source.readline()
        if not line:
            loop.quit()
            return False
        try:
            req = json.loads(line)
            if req["cmd"] == "state":
                out({"ok": state()})
            elif req["cmd"] == "click":
                out({"ok": click(req["label"])})
            elif req["cmd"] == "drop-host":
                host["registered"] = False
                out({"ok": True})
            else:
                out({"error": "unknown command %r" % req["cmd"]})
        except Exception as e:  # reported to the test, which fails with it
            out({"error": "%s: %s" % (type(e).__name__, e)})
        return True

    loop = GLib.MainLoop()
    GLib.io_add_watch(sys.stdin, GLib.IO_IN | GLib.IO_HUP, on_stdin)
    out({"ready": True, "name": str(name.get_name())})
    loop.run()


def close_window(title):
    from Xlib import X, display, protocol

    d = display.Display()
    root = d.screen().root
    delete = d.intern_atom("WM_DELETE_WINDOW")
    protocols = d.intern_atom("WM_PROTOCOLS")
    asked = 0

    def visit(win):
        nonlocal asked
        try:
            name = win.get_wm_name()
            supported = win.get_wm_protocols() or []
        except Exception:
            return
        if name == title and delete in supported:
            ev = protocol.event.ClientMessage(
                window=win, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0])
            )
            win.send_event(ev, event_mask=X.NoEventMask)
            asked += 1

    for win in root.query_tree().children:
        visit(win)
        for child in win.query_tree().children:
            visit(child)
    d.flush()
    d.close()
    out({"asked": asked})
    return 0 if asked else 1


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "watch":
        watch()
    elif len(sys.argv) == 3 and sys.argv[1] == "close-window":
        sys.exit(close_window(sys.argv[2]))
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)
