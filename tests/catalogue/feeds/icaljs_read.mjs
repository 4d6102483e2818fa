// Reads an iCalendar body on standard input with ical.js (the parser inside Thunderbird and
// Nextcloud) and writes what it understood as JSON: the calendar's METHOD and name, and each
// VEVENT's properties as ical.js resolves them (times as UTC instants), with a recurring
// event's occurrences as ical.js expands them (in the calendar's VTIMEZONEs, registered as
// Thunderbird does) and its alarms. A body ical.js cannot parse makes it exit non-zero with
// the parser's message. Used by icaljs.py.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const ICAL = (await import(pathToFileURL(process.argv[2]).href)).default;
const root = new ICAL.Component(ICAL.parse(readFileSync(0, "utf8")));
for (const zone of root.getAllSubcomponents("vtimezone")) ICAL.TimezoneService.register(zone);
const utc = (time) => time.toJSDate().toISOString();

// Every occurrence of a recurring event (at most 400), else its one start and end.
function occurrences(event) {
  if (!event.isRecurring()) return [{ start: utc(event.startDate), end: utc(event.endDate) }];
  const found = [];
  const iterator = event.iterator();
  for (let next = iterator.next(); next && found.length < 400; next = iterator.next()) {
    const details = event.getOccurrenceDetails(next);
    found.push({ start: utc(details.startDate), end: utc(details.endDate) });
  }
  return found;
}
const events = root.getAllSubcomponents("vevent").map((component) => {
  const event = new ICAL.Event(component);
  const related = component.getFirstProperty("related-to");
  return {
    uid: event.uid,
    summary: event.summary,
    location: event.location,
    description: event.description,
    start: event.startDate.toJSDate().toISOString(),
    end: event.endDate.toJSDate().toISOString(),
    sequence: event.sequence,
    status: component.getFirstPropertyValue("status"),
    url: component.getFirstPropertyValue("url"),
    related: related ? { uid: related.getFirstValue(), reltype: related.getParameter("reltype") } : null,
    attendees: component.getAllProperties("attendee").map((p) => p.getFirstValue()),
    occurrences: occurrences(event),
    alarms: component.getAllSubcomponents("valarm").map((alarm) => ({
      action: alarm.getFirstPropertyValue("action"),
      trigger: alarm.getFirstPropertyValue("trigger").toString(),
      description: alarm.getFirstPropertyValue("description"),
    })),
  };
});
process.stdout.write(JSON.stringify({
  method: root.getFirstPropertyValue("method"),
  name: root.getFirstPropertyValue("x-wr-calname"),
  events,
}));
