"""The one iCalendar builder (feeds, .ics downloads and email attachments alike) and the plain-text renderings it and structured data use."""
