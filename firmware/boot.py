# Runs once at power-on, before USB starts. In serial mode the data port carries the wire
# protocol; in hid mode a vendor-defined HID device does. The console stays for the REPL and
# for reading tracebacks.
import supervisor
import usb_cdc

from dialfw.settings import load

settings, problems = load()
# The label names the dial on the USB bus (lsusb, udev, the host's port list).
supervisor.set_usb_identification(product="microdial " + settings["MICRODIAL_LABEL"])
if settings["MICRODIAL_USB_MODE"] == "hid":
    import usb_hid

    from dialfw.hid import device

    usb_hid.enable((device(),))
    usb_cdc.enable(console=True, data=False)
else:
    usb_cdc.enable(console=True, data=True)
