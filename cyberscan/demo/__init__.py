"""Local demonstration material: a loopback virtual-hosting web server and two fictitious communes."""
