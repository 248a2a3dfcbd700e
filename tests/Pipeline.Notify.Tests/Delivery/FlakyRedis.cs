using System.Reflection;
using StackExchange.Redis;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>One command (or one transaction, with the keys of everything queued in it) as notify sends it to Redis.</summary>
public sealed record RedisCall(string Method, IReadOnlyList<string> Keys)
{
    public bool Touches(string keyPrefix) => Keys.Any(k => k.StartsWith(keyPrefix, StringComparison.Ordinal));
}

/// <summary>
/// notify's Redis with chosen commands timing out: <see cref="Database"/> passes every call to a
/// real redis-server, except the calls a rule from <see cref="Fail"/> picks, which end in a
/// <see cref="RedisTimeoutException"/> without reaching the server. <see cref="Before"/> runs
/// something else first, once, right before a chosen call (another request's write landing between
/// a read and a write). A transaction is judged as one call when it is executed, by the keys of all
/// it queued.
/// </summary>
public sealed class FlakyRedis
{
    private readonly Lock _gate = new();
    private readonly List<Rule> _rules = [];
    private readonly List<(Func<RedisCall, bool> Match, Func<Task> Action)> _before = [];
    private int _failed;

    public FlakyRedis(IDatabase real)
    {
        Real = real;
        var proxy = DispatchProxy.Create<IDatabase, Proxy>();
        ((Proxy)(object)proxy).Init(real, this);
        Database = proxy;
    }

    /// <summary>What notify is given.</summary>
    public IDatabase Database { get; }

    /// <summary>The same server without faults, for the test's own reads and writes.</summary>
    public IDatabase Real { get; }

    /// <summary>How many calls were failed so far.</summary>
    public int Failed => Volatile.Read(ref _failed);

    /// <summary>The next <paramref name="times"/> calls that match <paramref name="match"/> time out.</summary>
    public void Fail(Func<RedisCall, bool> match, int times = int.MaxValue)
    {
        lock (_gate)
        {
            _rules.Add(new Rule(match) { Remaining = times });
        }
    }

    /// <summary>Runs <paramref name="action"/> once, right before the first call that matches <paramref name="match"/> goes to the server.</summary>
    public void Before(Func<RedisCall, bool> match, Func<Task> action)
    {
        lock (_gate)
        {
            _before.Add((match, action));
        }
    }

    /// <summary>Every call reaches the server again.</summary>
    public void Heal()
    {
        lock (_gate)
        {
            _rules.Clear();
            _before.Clear();
        }
    }

    private Exception? FaultFor(RedisCall call)
    {
        Func<Task>? before = null;
        lock (_gate)
        {
            var index = _before.FindIndex(b => b.Match(call));
            if (index >= 0)
            {
                before = _before[index].Action;
                _before.RemoveAt(index);
            }
        }

        // Outside any synchronization context, so the action's own awaits cannot wait for this thread.
        if (before is not null)
        {
            Task.Run(before).Wait();
        }

        lock (_gate)
        {
            var rule = _rules.FirstOrDefault(r => r.Remaining > 0 && r.Match(call));
            if (rule is null)
            {
                return null;
            }

            rule.Remaining--;
        }

        Interlocked.Increment(ref _failed);
        return new RedisTimeoutException($"Timeout awaiting response (test fault: {call.Method} {string.Join(' ', call.Keys)})", CommandStatus.Sent);
    }

    private static List<string> KeysOf(object?[]? args)
    {
        var keys = new List<string>();
        foreach (var arg in args ?? [])
        {
            switch (arg)
            {
                case RedisKey key:
                    keys.Add(key.ToString());
                    break;
                case RedisKey[] many:
                    keys.AddRange(many.Select(k => k.ToString()));
                    break;
            }
        }

        return keys;
    }

    /// <summary>A faulted task of the method's return type, or the exception thrown for a synchronous method.</summary>
    private static object? Faulted(MethodInfo method, Exception fault)
    {
        if (method.ReturnType == typeof(Task))
        {
            return Task.FromException(fault);
        }

        if (method.ReturnType.IsGenericType && method.ReturnType.GetGenericTypeDefinition() == typeof(Task<>))
        {
            return typeof(Task).GetMethods(BindingFlags.Public | BindingFlags.Static)
                .Single(m => m.Name == nameof(Task.FromException) && m.IsGenericMethodDefinition)
                .MakeGenericMethod(method.ReturnType.GetGenericArguments()[0])
                .Invoke(null, [fault]);
        }

        throw fault;
    }

    private static object? Forward(object target, MethodInfo method, object?[]? args)
    {
        try
        {
            return method.Invoke(target, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }

    private sealed class Rule(Func<RedisCall, bool> match)
    {
        public Func<RedisCall, bool> Match { get; } = match;
        public int Remaining { get; set; }
    }

    /// <summary>The <see cref="IDatabase"/> notify sees.</summary>
    public class Proxy : DispatchProxy
    {
        private IDatabase _real = null!;
        private FlakyRedis _owner = null!;

        internal void Init(IDatabase real, FlakyRedis owner) => (_real, _owner) = (real, owner);

        protected override object? Invoke(MethodInfo? method, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(method);
            if (method.Name == nameof(IDatabase.CreateTransaction))
            {
                var transaction = DispatchProxy.Create<ITransaction, TransactionProxy>();
                ((TransactionProxy)(object)transaction).Init((ITransaction)Forward(_real, method, args)!, _owner);
                return transaction;
            }

            return _owner.FaultFor(new RedisCall(method.Name, KeysOf(args))) is { } fault ? Faulted(method, fault) : Forward(_real, method, args);
        }
    }

    /// <summary>A transaction: queued commands go to the real one; executing it may fail as a whole.</summary>
    public class TransactionProxy : DispatchProxy
    {
        private readonly List<string> _keys = [];
        private ITransaction _real = null!;
        private FlakyRedis _owner = null!;

        internal void Init(ITransaction real, FlakyRedis owner) => (_real, _owner) = (real, owner);

        protected override object? Invoke(MethodInfo? method, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(method);
            if (method.Name is nameof(ITransaction.ExecuteAsync) or nameof(ITransaction.Execute))
            {
                if (_owner.FaultFor(new RedisCall("Transaction", _keys)) is { } fault)
                {
                    return Faulted(method, fault);
                }
            }
            else
            {
                _keys.AddRange(KeysOf(args));
            }

            return Forward(_real, method, args);
        }
    }
}
