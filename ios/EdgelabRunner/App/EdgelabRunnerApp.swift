// The app edgelab installs and launches (developer services process control). On launch it runs
// Documents/edgelab/job.json and writes results.json beside it, shows one line, then exits so
// that edgelab sees the process end (a developer tool, never submitted to the App Store).
import EdgelabRunnerCore
import SwiftUI

@main
struct EdgelabRunnerApp: App {
    @State private var status = "running the edgelab job…"

    var body: some Scene {
        WindowGroup {
            Text(status)
                .padding()
                .task {
                    let results = await Runner(folder: Runner.documentsFolder()).runJobFile()
                    status = results.status == "ok"
                        ? "done: \(results.repeats.count) repeat(s), job \(results.jobId)"
                        : "error: \(results.error ?? "?")"
                    // keep the screen readable for a moment when a person watches, then end
                    try? await Task.sleep(nanoseconds: 1_000_000_000)
                    exit(results.status == "ok" ? 0 : 1)
                }
        }
    }
}
