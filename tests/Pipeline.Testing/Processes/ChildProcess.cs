using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Pipeline.Testing.Processes;

/// <summary>
/// A child process in a process group of its own (started through <c>setsid</c>), with stdin from
/// /dev/null and stdout and stderr appended to a log file. Signals go to the whole group, so a kill
/// also takes the grandchildren (the Erlang VM under rabbitmq-server's shell wrapper). A watchdog
/// shell kills the group within a second if the test process dies without disposing it.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private const int SigKill = 9;
    private const int SigTerm = 15;
    private const int SigCont = 18;
    private const int SigStop = 19;

    private readonly Process _process;
    private readonly Process? _watchdog;
    private int _disposed;
    private volatile bool _pauseRequested;

    private ChildProcess(Process process, Process? watchdog, string logPath)
    {
        _process = process;
        _watchdog = watchdog;
        LogPath = logPath;
        Id = process.Id;
        ChildProcessRegistry.Add(this);
    }

    /// <summary>The process id, which is also the id of its process group.</summary>
    public int Id { get; }

    /// <summary>Where stdout and stderr go.</summary>
    public string LogPath { get; }

    public bool HasExited => _process.HasExited;

    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    /// <summary>
    /// Starts <paramref name="fileName"/> with <paramref name="arguments"/> in its own process group.
    /// The environment is the current one, less the names in <paramref name="removeVariables"/>,
    /// plus <paramref name="environment"/> (a null value removes a variable).
    /// </summary>
    public static ChildProcess Start(
        string fileName,
        IEnumerable<string> arguments,
        string workingDirectory,
        string logPath,
        IReadOnlyDictionary<string, string?>? environment = null,
        IEnumerable<string>? removeVariables = null)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("The test fixtures run their servers as Linux processes.");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        var start = new ProcessStartInfo("setsid")
        {
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        // setsid makes the child a session and group leader (it does not fork: a child of this
        // process is no group leader); sh redirects and then becomes the program itself, so the
        // pid we know is the program's pid and its group id.
        start.ArgumentList.Add("/bin/sh");
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("log=\"$1\"; shift; exec \"$@\" </dev/null >>\"$log\" 2>&1");
        start.ArgumentList.Add("sh");
        start.ArgumentList.Add(logPath);
        start.ArgumentList.Add(fileName);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var name in removeVariables ?? [])
        {
            start.Environment.Remove(name);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        var watchdog = StartWatchdog(process.Id);
        return new ChildProcess(process, watchdog, logPath);
    }

    /// <summary>The ids of the live (not zombie) processes in this process group.</summary>
    public IReadOnlyList<int> GroupMembers() => ProcessTable.GroupMembers(Id);

    /// <summary>SIGTERM to the process itself (not the group): the program's own graceful shutdown.</summary>
    public void Terminate()
    {
        Signal(Id, SigTerm);
        Signal(-Id, SigCont); // a paused group must run to handle SIGTERM
    }

    /// <summary>SIGKILL to the whole process group.</summary>
    public void KillGroup() => Signal(-Id, SigKill);

    /// <summary>SIGSTOP to the whole process group: it hangs, its sockets stay open.</summary>
    public void Pause()
    {
        _pauseRequested = true;
        Signal(-Id, SigStop);
    }

    /// <summary>SIGCONT to the whole process group.</summary>
    public void Resume()
    {
        _pauseRequested = false;
        Signal(-Id, SigCont);
    }

    /// <summary>
    /// True after <see cref="Pause"/> once no process of the group runs: each is stopped (T), or
    /// blocked (D) in a way that ends in the stop, such as a shell waiting for a vfork child that
    /// was stopped before its exec.
    /// </summary>
    public bool IsPaused =>
        _pauseRequested
        && GroupMembers() is { Count: > 0 } members
        && members.All(p => ProcessTable.Stat(p) is null or { State: 'T' or 't' or 'D' });

    /// <summary>Waits for the process to exit; true if it did within <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return _process.HasExited;
        }
    }

    /// <summary>Waits until no live process is left in the group; true if so within <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForGroupExitAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_process.HasExited && GroupMembers().Count == 0)
            {
                return true;
            }

            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(50).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// SIGTERM, then SIGKILL to the group if the process has not exited within <paramref name="grace"/>;
    /// returns when no process of the group is left.
    /// </summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (!_process.HasExited)
        {
            Terminate();
            await WaitForExitAsync(grace).ConfigureAwait(false);
        }

        await KillAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// SIGKILL to the group and to every descendant that left it (erl_child_setup starts a session
    /// of its own); returns when none of them is left. Daemons that detached (epmd) are not descendants.
    /// </summary>
    public async Task KillAsync()
    {
        var descendants = ProcessTable.Descendants(Id);
        KillGroup();
        foreach (var pid in descendants)
        {
            Signal(pid, SigKill);
        }

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!await WaitForGroupExitAsync(TimeSpan.FromMilliseconds(100)).ConfigureAwait(false) || descendants.Any(ProcessTable.IsAlive))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException(
                    $"Process group {Id} is still alive 15 s after SIGKILL: {string.Join(", ", GroupMembers().Concat(descendants.Where(ProcessTable.IsAlive)))}.");
            }
        }
    }

    /// <summary>The last <paramref name="lines"/> lines of the log.</summary>
    public string ReadLogTail(int lines = 60) => LogFiles.Tail(LogPath, lines);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        try
        {
            await KillAsync().ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // Reported by KillAsync callers; disposing goes on.
        }
        finally
        {
            StopWatchdog();
            ChildProcessRegistry.Remove(this);
            _process.Dispose();
        }
    }

    /// <summary>Kills the group without waiting (process exit hook).</summary>
    internal void KillNow()
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            KillGroup();
            StopWatchdog();
        }
    }

    private void StopWatchdog()
    {
        if (_watchdog is { HasExited: false })
        {
            Signal(_watchdog.Id, SigKill);
        }

        _watchdog?.Dispose();
    }

    private static Process? StartWatchdog(int groupId)
    {
        // Polls the test process once a second; when it is gone (crash, SIGKILL from a runner's
        // hang timeout) kills the group. It ignores SIGHUP/SIGINT/SIGTERM so a Ctrl+C that kills
        // the test process still leaves it to clean up.
        var start = new ProcessStartInfo("setsid") { UseShellExecute = false };
        start.ArgumentList.Add("/bin/sh");
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(
            "trap '' HUP INT TERM; while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; kill -CONT -\"$2\" 2>/dev/null; kill -KILL -\"$2\" 2>/dev/null");
        start.ArgumentList.Add("pipeline-testing-watchdog");
        start.ArgumentList.Add(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        start.ArgumentList.Add(groupId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            return Process.Start(start);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    internal static void Signal(int pid, int signal)
    {
        // ESRCH (no such process) is fine: it already exited.
        _ = kill(pid, signal);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}

/// <summary>Reads /proc: what runs, in which process group, in which state.</summary>
public static class ProcessTable
{
    /// <summary>
    /// True while <paramref name="pid"/> is a live process. A zombie is not alive: here PID 1 does not
    /// always reap orphans promptly, so a killed process may linger as a zombie holding nothing.
    /// </summary>
    public static bool IsAlive(int pid) => Stat(pid) is { } stat && (stat.State is not ('Z' or 'X') || HasLiveThreads(pid));

    /// <summary>
    /// A killed multi-threaded process (beam.smp) shows its main thread as a zombie while other
    /// threads still exit and still hold its sockets: alive until the last thread is gone.
    /// </summary>
    private static bool HasLiveThreads(int pid)
    {
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                var text = File.ReadAllText(Path.Combine(task, "stat"));
                var state = text[text.LastIndexOf(')') + 2];
                if (state is not ('Z' or 'X'))
                {
                    return true;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return false;
    }

    /// <summary>Live (not zombie) processes whose process group is <paramref name="groupId"/>.</summary>
    public static IReadOnlyList<int> GroupMembers(int groupId)
    {
        var members = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            if (Stat(pid) is { } stat && stat.GroupId == groupId && IsAlive(pid))
            {
                members.Add(pid);
            }
        }

        return members;
    }

    /// <summary>Live processes descending from <paramref name="pid"/> (children, grandchildren, ...), whatever their group.</summary>
    public static IReadOnlyList<int> Descendants(int pid)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var p) && Stat(p) is { } stat && IsAlive(p))
            {
                if (!children.TryGetValue(stat.ParentId, out var list))
                {
                    children[stat.ParentId] = list = [];
                }

                list.Add(p);
            }
        }

        var result = new List<int>();
        var queue = new Queue<int>([pid]);
        while (queue.TryDequeue(out var parent))
        {
            foreach (var child in children.GetValueOrDefault(parent) ?? [])
            {
                result.Add(child);
                queue.Enqueue(child);
            }
        }

        return result;
    }

    /// <summary>State letter (R, S, T for stopped, Z for zombie, ...), parent and process group of a process, or null if it is gone.</summary>
    public static (char State, int ParentId, int GroupId)? Stat(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            // pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
            var close = text.LastIndexOf(')');
            var fields = text[(close + 2)..].Split(' ');
            return (
                fields[0][0],
                int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture),
                int.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>Kills what is still running when the test process exits normally without disposing.</summary>
internal static class ChildProcessRegistry
{
    private static readonly HashSet<ChildProcess> Live = [];
    private static int _hooked;

    public static void Add(ChildProcess process)
    {
        if (Interlocked.Exchange(ref _hooked, 1) == 0)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
        }

        lock (Live)
        {
            Live.Add(process);
        }
    }

    public static void Remove(ChildProcess process)
    {
        lock (Live)
        {
            Live.Remove(process);
        }
    }

    private static void KillAll()
    {
        ChildProcess[] all;
        lock (Live)
        {
            all = [.. Live];
        }

        foreach (var process in all)
        {
            process.KillNow();
        }
    }
}

internal static class LogFiles
{
    /// <summary>The last lines of a text file that another process may still be writing.</summary>
    public static string Tail(string path, int lines)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            const int maxBytes = 64 * 1024;
            if (stream.Length > maxBytes)
            {
                stream.Seek(-maxBytes, SeekOrigin.End);
            }

            using var reader = new StreamReader(stream, Encoding.UTF8);
            var all = reader.ReadToEnd().Split('\n');
            return string.Join('\n', all.TakeLast(lines + 1)).TrimEnd();
        }
        catch (IOException e)
        {
            return $"(no log at {path}: {e.Message})";
        }
    }
}
