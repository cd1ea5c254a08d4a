import Testing

@testable import QueueEngine

/// How many jobs wait in Legnext's queue beyond the plan's limit, from the lags seen.
@Suite struct PlanLeadTests {
    @Test func itStartsAtAQuarterOfThePlanAndIsCappedAtHalfOfItAndFour() {
        #expect([1, 3, 6, 10, 40].map(PlanLead.initial(plan:)) == [1, 1, 2, 3, 4])
        #expect([1, 3, 6, 10, 40].map(PlanLead.cap(plan:)) == [1, 1, 3, 4, 4])
        #expect(PlanLead(plan: 10).current == 3)
    }

    @Test func itCoversTheEndsThatComeWithinTheNinetiethPercentileLag() {
        var lead = PlanLead(plan: 10)
        // A job every 0.2 s (10 slots, 2 s jobs); lags up to 0.7 s: four ends within one.
        for index in 0..<9 {
            let changed = lead.record(lag: index == 0 ? 0.7 : 0.3, typical: 2)
            #expect(!changed)
        }
        #expect(lead.current == 3, "too few lags to move")
        for _ in 0..<10 { _ = lead.record(lag: 0.7, typical: 2) }
        #expect(lead.current == 4)
        // Lags fall to a tenth of a second: back to where it started, never under.
        var changed = false
        for _ in 0..<PlanLead.window { changed = lead.record(lag: 0.1, typical: 2) || changed }
        #expect(changed && lead.current == 3)
        // Without a typical length, or with a lag that means nothing, it stays.
        let untypical = lead.record(lag: 9, typical: nil)
        let meaningless = lead.record(lag: .nan, typical: 2)
        #expect(!untypical && !meaningless && lead.current == 3)
    }
}
