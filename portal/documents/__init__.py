"""Documents the portal draws: QR codes, name badges and certificates as PDF."""
