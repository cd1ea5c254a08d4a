/// The program's version, shown by `--version` and recorded in the `daemon` row.
public enum QueueCLIVersion {
    public static let current = "0.1.0"
}
